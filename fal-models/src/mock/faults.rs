//! A text form of fault injection, shared by the library ([`FaultSpec`], `str::parse`) and the
//! `fal-mock --fault` option:
//!
//! ```text
//! RULE      = OPERATION "=" FAULT [ "*" TIMES ]          e.g. status=too-many-requests:2*3
//! OPERATION = submit | status | status-stream | result | cancel | run | stream | token
//! FAULT     = reset | reset-after-handling | start-deadline | malformed-body | stream-drop
//!           | too-many-requests[:SECS]      (429 with Retry-After, default 1 s)
//!           | server-error:STATUS           (e.g. server-error:503)
//!           | respond:STATUS[+NAME=VALUE...][:BODY]
//!           | truncated-body[:BYTES]        (cut in the middle, or after BYTES)
//!           | slow-body:MILLISECONDS
//!           | never-answer                  (accept, never answer)
//!           | forward-then-fail:STATUS      (act, then a gateway error with x-fal-request-id)
//!           | ingress-error:STATUS          (nginx page before any app saw it; nothing done)
//!           | fail-job:internal[:MESSAGE] | fail-job:start-deadline
//!           | fail-job:validation:FIELD[:MESSAGE]
//! ```
//!
//! `Display` writes a fault in this form, so `fault.to_string().parse()` gives it back.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use super::{Fault, JobFailure};
use crate::error::Operation;

/// A fault rule: inject `fault` into the next `times` requests of `operation`.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct FaultSpec {
    /// Which requests.
    pub operation: Operation,
    /// What happens to them.
    pub fault: Fault,
    /// How many of them (at least 1).
    pub times: usize,
}

impl FaultSpec {
    /// A rule for the next `times` requests of `operation`.
    pub fn new(operation: Operation, fault: Fault, times: usize) -> FaultSpec {
        FaultSpec {
            operation,
            fault,
            times: times.max(1),
        }
    }
}

/// The grammar's name of an operation.
pub fn operation_name(operation: Operation) -> &'static str {
    match operation {
        Operation::Submit => "submit",
        Operation::Status => "status",
        Operation::StatusStream => "status-stream",
        Operation::Result => "result",
        Operation::Cancel => "cancel",
        Operation::Run => "run",
        Operation::Stream => "stream",
        Operation::Token => "token",
    }
}

fn parse_operation(s: &str) -> Result<Operation, String> {
    Ok(match s {
        "submit" => Operation::Submit,
        "status" => Operation::Status,
        "status-stream" => Operation::StatusStream,
        "result" => Operation::Result,
        "cancel" => Operation::Cancel,
        "run" => Operation::Run,
        "stream" => Operation::Stream,
        "token" => Operation::Token,
        other => {
            return Err(format!(
                "unknown operation {other:?} (submit, status, status-stream, result, cancel, run, stream, token)"
            ));
        }
    })
}

impl fmt::Display for FaultSpec {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}={}", operation_name(self.operation), self.fault)?;
        if self.times != 1 {
            write!(f, "*{}", self.times)?;
        }
        Ok(())
    }
}

impl FromStr for FaultSpec {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (operation, rest) = s
            .split_once('=')
            .ok_or_else(|| format!("{s:?}: expected OPERATION=FAULT[*TIMES]"))?;
        let operation = parse_operation(operation.trim())?;
        // `*TIMES` ends the rule; a `*` inside a `respond` body is not a count.
        let (fault, times) = match rest.rsplit_once('*') {
            Some((fault, n)) if !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()) => {
                (fault, n.parse().map_err(|e| format!("{s:?}: {e}"))?)
            }
            _ => (rest, 1),
        };
        if times == 0 {
            return Err(format!("{s:?}: TIMES must be at least 1"));
        }
        Ok(FaultSpec::new(operation, fault.parse()?, times))
    }
}

impl fmt::Display for Fault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Exhaustive on purpose: a new variant must get a text form here.
        match self {
            Fault::Reset => f.write_str("reset"),
            Fault::ResetAfterHandling => f.write_str("reset-after-handling"),
            Fault::Respond {
                status,
                headers,
                body,
            } => {
                write!(f, "respond:{status}")?;
                for (name, value) in headers {
                    write!(f, "+{name}={value}")?;
                }
                if !body.is_empty() {
                    write!(f, ":{body}")?;
                }
                Ok(())
            }
            Fault::TooManyRequests { retry_after_secs } => {
                write!(f, "too-many-requests:{retry_after_secs}")
            }
            Fault::ServerError(status) => write!(f, "server-error:{status}"),
            Fault::StartDeadline => f.write_str("start-deadline"),
            Fault::TruncatedBody => f.write_str("truncated-body"),
            Fault::TruncatedBodyAfter(n) => write!(f, "truncated-body:{n}"),
            Fault::MalformedBody => f.write_str("malformed-body"),
            Fault::SlowBody(d) => write!(f, "slow-body:{}", d.as_millis()),
            Fault::StreamDrop => f.write_str("stream-drop"),
            Fault::NeverAnswer => f.write_str("never-answer"),
            Fault::ForwardThenFail(status) => write!(f, "forward-then-fail:{status}"),
            Fault::IngressError(status) => write!(f, "ingress-error:{status}"),
            Fault::FailJob(failure) => write!(f, "fail-job:{}", failure_text(failure)),
        }
    }
}

/// The text form of a job failure; failures built by hand that match no constructor are
/// written as the closest one (`internal` with their message).
fn failure_text(failure: &JobFailure) -> String {
    if failure.start_deadline {
        return "start-deadline".into();
    }
    let field = failure
        .detail
        .pointer("/0/loc/1")
        .and_then(|v| v.as_str())
        .filter(|_| failure.status == 422);
    match field {
        Some(field) => format!("validation:{field}:{}", failure.message),
        None => format!("internal:{}", failure.message),
    }
}

impl FromStr for Fault {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, String> {
        let (name, arg) = match s.split_once(':') {
            Some((name, arg)) => (name, Some(arg)),
            None => (s, None),
        };
        let number = |what: &str| -> Result<u64, String> {
            arg.ok_or_else(|| format!("{s:?}: {name} needs :{what}"))?
                .parse()
                .map_err(|_| format!("{s:?}: {what} must be a number"))
        };
        let status = |n: u64| -> Result<u16, String> {
            u16::try_from(n)
                .ok()
                .filter(|s| (100..=999).contains(s))
                .ok_or_else(|| format!("{s:?}: {n} is not an HTTP status"))
        };
        let no_arg = |fault: Fault| match arg {
            None => Ok(fault),
            Some(_) => Err(format!("{s:?}: {name} takes no argument")),
        };
        match name {
            "reset" => no_arg(Fault::Reset),
            "reset-after-handling" => no_arg(Fault::ResetAfterHandling),
            "start-deadline" => no_arg(Fault::StartDeadline),
            "malformed-body" => no_arg(Fault::MalformedBody),
            "stream-drop" => no_arg(Fault::StreamDrop),
            "never-answer" => no_arg(Fault::NeverAnswer),
            "forward-then-fail" => Ok(Fault::ForwardThenFail(status(number("STATUS")?)?)),
            "ingress-error" => Ok(Fault::IngressError(status(number("STATUS")?)?)),
            "too-many-requests" | "429" => Ok(Fault::TooManyRequests {
                retry_after_secs: if arg.is_some() { number("SECS")? } else { 1 },
            }),
            "server-error" => Ok(Fault::ServerError(status(number("STATUS")?)?)),
            "truncated-body" => match arg {
                None => Ok(Fault::TruncatedBody),
                Some(_) => Ok(Fault::TruncatedBodyAfter(number("BYTES")? as usize)),
            },
            "slow-body" => Ok(Fault::SlowBody(Duration::from_millis(number(
                "MILLISECONDS",
            )?))),
            "respond" => {
                let arg = arg.ok_or_else(|| format!("{s:?}: respond needs :STATUS"))?;
                let (head, body) = arg.split_once(':').unwrap_or((arg, ""));
                let mut parts = head.split('+');
                let code = parts.next().unwrap_or("");
                let code = code
                    .parse()
                    .map_err(|_| format!("{s:?}: STATUS must be a number"))?;
                let headers = parts
                    .map(|h| {
                        h.split_once('=')
                            .map(|(n, v)| (n.to_owned(), v.to_owned()))
                            .ok_or_else(|| format!("{s:?}: header {h:?} needs NAME=VALUE"))
                    })
                    .collect::<Result<_, _>>()?;
                Ok(Fault::Respond {
                    status: status(code)?,
                    headers,
                    body: body.to_owned(),
                })
            }
            "fail-job" => {
                let arg = arg.unwrap_or("");
                let (kind, rest) = arg.split_once(':').unwrap_or((arg, ""));
                let failure = match kind {
                    "internal" => JobFailure::internal(if rest.is_empty() {
                        "mock: injected job failure"
                    } else {
                        rest
                    }),
                    "start-deadline" => JobFailure::start_deadline(),
                    "validation" => {
                        let (field, msg) = rest.split_once(':').unwrap_or((rest, ""));
                        if field.is_empty() {
                            return Err(format!("{s:?}: fail-job:validation needs :FIELD"));
                        }
                        let msg = if msg.is_empty() {
                            "mock: injected validation failure"
                        } else {
                            msg
                        };
                        JobFailure::validation(field, msg, "value_error")
                    }
                    other => {
                        return Err(format!(
                            "{s:?}: unknown job failure {other:?} (internal, start-deadline, validation)"
                        ));
                    }
                };
                Ok(Fault::FailJob(failure))
            }
            other => Err(format!(
                "{s:?}: unknown fault {other:?} (reset, reset-after-handling, respond, \
                 too-many-requests, server-error, start-deadline, truncated-body, \
                 malformed-body, slow-body, stream-drop, never-answer, forward-then-fail, \
                 ingress-error, fail-job)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// One of every variant: the text form reads back as the same fault.
    #[test]
    fn every_fault_round_trips_through_its_text_form() {
        let faults = [
            Fault::Reset,
            Fault::ResetAfterHandling,
            Fault::Respond {
                status: 503,
                headers: vec![("retry-after".into(), "2".into())],
                body: "{\"detail\": \"a:b*c\"}".into(),
            },
            Fault::Respond {
                status: 418,
                headers: vec![],
                body: String::new(),
            },
            Fault::TooManyRequests {
                retry_after_secs: 3,
            },
            Fault::ServerError(502),
            Fault::StartDeadline,
            Fault::TruncatedBody,
            Fault::TruncatedBodyAfter(7),
            Fault::MalformedBody,
            Fault::SlowBody(Duration::from_millis(250)),
            Fault::StreamDrop,
            Fault::NeverAnswer,
            Fault::ForwardThenFail(504),
            Fault::IngressError(502),
            Fault::FailJob(JobFailure::internal("boom: it broke")),
            Fault::FailJob(JobFailure::start_deadline()),
            Fault::FailJob(JobFailure::validation("prompt", "bad: word", "value_error")),
        ];
        for fault in faults {
            let text = fault.to_string();
            assert_eq!(text.parse::<Fault>().as_ref(), Ok(&fault), "{text}");
            let spec = FaultSpec::new(Operation::Status, fault, 2);
            assert_eq!(spec.to_string().parse::<FaultSpec>(), Ok(spec.clone()));
        }
    }

    #[test]
    fn rules_read_their_operation_and_count() {
        let spec: FaultSpec = "status-stream=stream-drop".parse().unwrap();
        assert_eq!(
            (spec.operation, spec.fault, spec.times),
            (Operation::StatusStream, Fault::StreamDrop, 1)
        );
        let spec: FaultSpec = "submit=429*3".parse().unwrap();
        assert_eq!(
            spec.fault,
            Fault::TooManyRequests {
                retry_after_secs: 1
            }
        );
        assert_eq!(spec.times, 3);
    }

    #[test]
    fn bad_rules_say_what_is_wrong() {
        for (text, expected) in [
            ("status", "expected OPERATION=FAULT"),
            ("poll=reset", "unknown operation"),
            ("status=explode", "unknown fault"),
            ("status=server-error", "needs :STATUS"),
            ("status=server-error:5000", "not an HTTP status"),
            ("status=reset:1", "takes no argument"),
            ("status=reset*0", "at least 1"),
            ("submit=fail-job:validation", "needs :FIELD"),
        ] {
            let err = text.parse::<FaultSpec>().unwrap_err();
            assert!(err.contains(expected), "{text}: {err}");
        }
    }
}
