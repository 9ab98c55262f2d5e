//! Rust names for things that come from documents: modules, types, fields, enum variants.
//!
//! Every function here is total: any string gives a valid, non-keyword identifier, so a strange
//! document can never produce code that does not parse.

use heck::{ToSnakeCase, ToUpperCamelCase};

/// Words Rust reserves (strict and reserved, 2024 edition). Field names hitting one become raw
/// identifiers (`r#type`), except the few that cannot be raw (`self`, `super`, `crate`, `Self`).
const KEYWORDS: &[&str] = &[
    "as", "async", "await", "break", "const", "continue", "crate", "dyn", "else", "enum", "extern",
    "false", "fn", "for", "gen", "if", "impl", "in", "let", "loop", "match", "mod", "move", "mut",
    "pub", "ref", "return", "self", "Self", "static", "struct", "super", "trait", "true", "type",
    "unsafe", "use", "where", "while", "abstract", "become", "box", "do", "final", "macro",
    "override", "priv", "typeof", "unsized", "virtual", "yield", "try", "union",
];

/// Type names the generated code itself uses unqualified; a document type of that name is renamed.
const RESERVED_TYPE_NAMES: &[&str] = &[
    "Option",
    "Some",
    "None",
    "Result",
    "Ok",
    "Err",
    "String",
    "Vec",
    "Box",
    "Self",
    "Default",
    "Value",
    "Map",
    "BTreeMap",
    "Endpoint",
    "Into",
    "From",
    "Clone",
    "Debug",
    "PartialEq",
];

fn is_keyword(s: &str) -> bool {
    KEYWORDS.contains(&s)
}

/// Keeps ASCII letters and digits; every other run of characters becomes one `_`.
fn ascii_words(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    let mut last_sep = true;
    for c in s.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
            last_sep = false;
        } else if !last_sep {
            out.push('_');
            last_sep = true;
        }
    }
    while out.ends_with('_') {
        out.pop();
    }
    out
}

/// A snake_case identifier (module, field or function name). Raw keywords come back as `r#kw`.
pub fn snake_ident(s: &str) -> String {
    let mut name = ascii_words(s).to_snake_case();
    if name.is_empty() {
        name = "field".to_owned();
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, '_');
    }
    match name.as_str() {
        "self" | "super" | "crate" | "_" => format!("{name}_"),
        kw if is_keyword(kw) => format!("r#{kw}"),
        _ => name,
    }
}

/// A module name for one segment of an endpoint id (`v2.2` -> `v2_2`, `hailuo-02` -> `hailuo_02`).
/// Keywords get a trailing `_` instead of `r#` so file names stay plain.
pub fn module_ident(segment: &str) -> String {
    let name = snake_ident(segment);
    // A segment that starts with a digit (`3d-objects`, `480p`, `1.5`) reads as a version:
    // `v3d_objects`, `v480p`, `v1_5`, never `_3d_objects`.
    if let Some(rest) = name
        .strip_prefix('_')
        .filter(|r| r.starts_with(|c: char| c.is_ascii_digit()))
    {
        return format!("v{rest}");
    }
    match name.strip_prefix("r#") {
        Some(kw) => format!("{kw}_"),
        None => name,
    }
}

/// An UpperCamelCase type name; never a name the generated code uses itself. A name that is
/// already an UpperCamelCase identifier is kept as written (`LoRAInput` stays `LoRAInput`).
pub fn type_ident(s: &str) -> String {
    let verbatim = s.starts_with(|c: char| c.is_ascii_uppercase())
        && s.chars().all(|c| c.is_ascii_alphanumeric());
    let mut name = if verbatim {
        s.to_owned()
    } else {
        ascii_words(s).to_upper_camel_case()
    };
    if name.is_empty() {
        name = "Unnamed".to_owned();
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, 'T');
    }
    if RESERVED_TYPE_NAMES.contains(&name.as_str()) {
        name.push_str("Type");
    }
    name
}

/// Standard-library items that users of the client import next to the generated types, and a
/// generated type may be named like (a model's `duration` option is an enum `Duration`).
/// Such a type keeps its name (it is the document's, and renaming one endpoint's type for
/// another crate's sake would make names depend on more than the document); its docs say how
/// to use both.
const STD_LOOKALIKES: &[(&str, &str, &str)] = &[(
    "Duration",
    "std::time::Duration",
    "which the client's time limits take (`.timeout()`, `start_timeout`, backoffs)",
)];

/// The doc paragraph for a generated type named like a standard-library item users import
/// beside it (`Duration`), or `None`.
pub fn std_lookalike_note(type_name: &str) -> Option<String> {
    STD_LOOKALIKES
        .iter()
        .find(|(name, _, _)| *name == type_name)
        .map(|(name, path, why)| {
            let last = path.rsplit("::").next().unwrap_or(name);
            format!(
                "This `{name}` is a model option, not [`{path}`], {why}: where both are used, \
             import one under another name (`use {path} as Std{last};`) or write its path."
            )
        })
}

/// Spells a value exactly as a type or variant name: letters and digits kept as written,
/// every other character as `U` and its code point (`"fast "` -> `FastU20`). Used when two
/// values would otherwise read the same; the name still depends on the value alone.
pub fn spelled(value: &str) -> String {
    let mut out = String::new();
    for c in value.chars() {
        if c.is_ascii_alphanumeric() {
            out.push(c);
        } else {
            out.push_str(&format!("U{:X}", c as u32));
        }
    }
    let mut chars = out.chars();
    let mut name = match chars.next() {
        Some(first) => first.to_ascii_uppercase().to_string() + chars.as_str(),
        None => "Empty".to_owned(),
    };
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        name.insert(0, 'V');
    }
    // `Self` is a keyword that cannot be raw.
    if name == "Self" {
        name.push_str("Value");
    }
    name
}

/// Unique names for values of one enum or union, each a function of its own value: the
/// first of a clashing pair keeps its readable name, the next is spelled exactly, and the
/// last resort is the value's bytes in hex. `(name, value)` pairs, in priority order.
pub fn unique_by_value(candidates: &[(String, String)], reserved: &[&str]) -> Vec<String> {
    let mut taken: std::collections::BTreeSet<String> =
        reserved.iter().map(|r| (*r).to_owned()).collect();
    candidates
        .iter()
        .map(|(name, value)| {
            let name = [name.clone(), spelled(value), hex_spelled(value)]
                .into_iter()
                .find(|n| !taken.contains(n))
                .unwrap_or_else(|| format!("{}X", hex_spelled(value)));
            taken.insert(name.clone());
            name
        })
        .collect()
}

/// The last resort of a name clash: the value's bytes in hex (`X6661737420`). Still a function
/// of the value alone, never of the other names around it.
pub fn hex_spelled(value: &str) -> String {
    let hex: String = value.bytes().map(|b| format!("{b:02X}")).collect();
    format!("X{hex}")
}

/// The variant name of a string enum value. `hint` is the enum's own name: a `Duration` of
/// `"8s"` reads `Seconds8`, an aspect ratio `"16:9"` reads `Ratio16_9`, `"720p"` reads `P720`.
pub fn str_variant(value: &str, hint: &str) -> String {
    let v = value.trim();
    if v.is_empty() {
        return if value.is_empty() {
            "Empty".to_owned()
        } else {
            "Blank".to_owned()
        };
    }
    if let Some(secs) = v.strip_suffix('s').filter(|d| is_number(d)) {
        return format!("Seconds{}", secs.replace('.', "_"));
    }
    if let Some((a, b)) = v
        .split_once(':')
        .filter(|(a, b)| is_number(a) && is_number(b))
    {
        return format!("Ratio{}_{}", a.replace('.', "_"), b.replace('.', "_"));
    }
    if let Some(p) = v.strip_suffix(['p', 'P']).filter(|d| is_number(d)) {
        return format!("P{p}");
    }
    if is_number(v) {
        return number_variant(v, hint);
    }
    let name = camel_words(v);
    if name.is_empty() {
        // Nothing alphanumeric: spell the symbols so `"+"` and `"-"` stay apart.
        let spelled: Vec<String> = v.chars().map(|c| format!("U{:X}", c as u32)).collect();
        return format!("Symbol{}", spelled.join(""));
    }
    if name.starts_with(|c: char| c.is_ascii_digit()) {
        return format!("V{name}");
    }
    // `Self` is a keyword that cannot be raw.
    if name == "Self" {
        return "SelfValue".to_owned();
    }
    name
}

/// UpperCamelCase of the words of `s`, digit groups kept apart by `_` where two would touch
/// (`mp3_44100_128` -> `Mp3_44100_128`, `landscape_16_9` -> `Landscape16_9`, `0.5K` -> `0_5k`).
fn camel_words(s: &str) -> String {
    let mut out = String::new();
    for word in ascii_words(s).split('_').filter(|w| !w.is_empty()) {
        let camel = word.to_upper_camel_case();
        if out.ends_with(|c: char| c.is_ascii_digit())
            && camel.starts_with(|c: char| c.is_ascii_digit())
        {
            out.push('_');
        }
        out.push_str(&camel);
    }
    out
}

/// A type name without a leading copy of its module path: in `fal-ai/kling-video/v3/pro`,
/// `KlingV3MultiPromptElement` is `MultiPromptElement` and `FalAiKlingVideoV3Image` is `Image`.
/// Only a prefix that starts with the owner or the model's first word is dropped, and only
/// words of the endpoint id, so `VideoFile` stays `VideoFile` everywhere.
pub fn without_module_prefix(name: &str, endpoint_id: &str) -> String {
    let id_words: Vec<String> = endpoint_id
        .split(|c: char| !c.is_ascii_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_ascii_lowercase)
        .collect();
    let segments: Vec<&str> = endpoint_id.split('/').filter(|s| !s.is_empty()).collect();
    let first_word = |s: &str| -> String {
        s.split(|c: char| !c.is_ascii_alphanumeric())
            .find(|w| !w.is_empty())
            .unwrap_or("")
            .to_ascii_lowercase()
    };
    let owner = segments.first().map(|s| first_word(s)).unwrap_or_default();
    let model = segments.get(1).map(|s| first_word(s)).unwrap_or_default();
    let words = camel_split(name);
    let Some(first) = words.first().map(|w| w.to_ascii_lowercase()) else {
        return name.to_owned();
    };
    if first != owner && first != model {
        return name.to_owned();
    }
    let compact: String = id_words.concat();
    let of_id = |w: &str| {
        let w = w.to_ascii_lowercase();
        id_words.contains(&w) || (w.len() >= 2 && compact.contains(&w))
    };
    let mut k = 0;
    while k + 1 < words.len() && of_id(&words[k]) {
        k += 1;
    }
    if k == 0 {
        return name.to_owned();
    }
    // Every word after the first starts with a capital (`camel_split`), so `rest` is a type name.
    words[k..].concat()
}

/// Splits an UpperCamelCase name into its words (`KlingV3Multi` -> `Kling`, `V3`, `Multi`;
/// `LoRAInput` -> `Lo`, `RA`, `Input`).
fn camel_split(name: &str) -> Vec<String> {
    let chars: Vec<char> = name.chars().collect();
    let mut words: Vec<String> = Vec::new();
    for (i, &c) in chars.iter().enumerate() {
        let starts = i == 0
            || (c.is_ascii_uppercase()
                && (chars[i - 1].is_ascii_lowercase()
                    || chars[i - 1].is_ascii_digit()
                    || chars.get(i + 1).is_some_and(|n| n.is_ascii_lowercase())
                        && chars[i - 1].is_ascii_uppercase()));
        if starts || words.is_empty() {
            words.push(String::new());
        }
        if let Some(w) = words.last_mut() {
            w.push(c);
        }
    }
    words
}

/// The variant name of an integer enum value (`8` in a `Duration` reads `Seconds8`).
pub fn int_variant(value: i64, hint: &str) -> String {
    number_variant(&value.to_string(), hint)
}

fn number_variant(digits: &str, hint: &str) -> String {
    let lower = hint.to_ascii_lowercase();
    let prefix = if lower.contains("duration") || lower.contains("second") {
        "Seconds"
    } else if lower.contains("fps") || lower.contains("frame_rate") || lower.contains("framerate") {
        "Fps"
    } else {
        "V"
    };
    let body = digits.replace('-', "Minus").replace('.', "_");
    format!("{prefix}{body}")
}

fn is_number(s: &str) -> bool {
    !s.is_empty()
        && s.chars().all(|c| c.is_ascii_digit() || c == '.')
        && s.starts_with(|c: char| c.is_ascii_digit())
        && s.matches('.').count() <= 1
}

/// The module path of an endpoint id: one module per segment.
pub fn endpoint_module_path(endpoint_id: &str) -> Vec<String> {
    endpoint_id
        .split('/')
        .filter(|s| !s.is_empty())
        .map(module_ident)
        .collect()
}

/// The cargo feature that gates an endpoint: its family. Endpoints of fal's own namespace are
/// grouped by the first word of their model name (`fal-ai/sora-2/...` -> `sora`,
/// `fal-ai/veo3.1/...` -> `veo`); other owners get one feature each (`bria/...` -> `bria`).
/// Families keep the number of features far under crates.io's limit of 300.
pub fn family_feature(endpoint_id: &str) -> String {
    let mut segments = endpoint_id.split('/').filter(|s| !s.is_empty());
    let owner = segments.next().unwrap_or("");
    let word_of = |s: &str| -> String {
        let word: String = s
            .chars()
            .skip_while(|c| !c.is_ascii_alphabetic())
            .take_while(|c| c.is_ascii_alphabetic())
            .collect();
        word.to_ascii_lowercase()
    };
    let family = if owner == "fal-ai" {
        segments.next().map(word_of).unwrap_or_default()
    } else {
        ascii_words(owner).to_ascii_lowercase().replace('_', "-")
    };
    if family.is_empty() {
        "misc".to_owned()
    } else {
        family
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_type_named_like_std_duration_says_which_is_which() {
        let note = super::std_lookalike_note("Duration").expect("a note");
        assert!(
            note.contains("[`std::time::Duration`]")
                && note.contains("use std::time::Duration as StdDuration;"),
            "{note}"
        );
        assert_eq!(super::std_lookalike_note("AspectRatio"), None);
        assert_eq!(super::std_lookalike_note("VideoDuration"), None);
    }

    use super::*;

    #[test]
    fn odd_enum_values_get_readable_variants() {
        assert_eq!(str_variant("16:9", "AspectRatio"), "Ratio16_9");
        assert_eq!(str_variant("landscape_16_9", "ImageSize"), "Landscape16_9");
        assert_eq!(
            str_variant("mp3_44100_128", "OutputFormat"),
            "Mp3_44100_128"
        );
        assert_eq!(str_variant("0.5K", "Resolution"), "V0_5k");
        assert_eq!(str_variant("8s", "Duration"), "Seconds8");
        assert_eq!(str_variant("768P", "Resolution"), "P768");
        assert_eq!(str_variant("", "X"), "Empty");
        assert_eq!(str_variant("square_hd", "ImageSize"), "SquareHd");
        assert_eq!(str_variant("3d-model", "Kind"), "V3dModel");
        assert_eq!(str_variant("+", "Op"), "SymbolU2B");
        assert_eq!(str_variant("self", "Kind"), "SelfValue");
        assert_eq!(int_variant(8, "Duration"), "Seconds8");
        assert_eq!(int_variant(4, "NumImages"), "V4");
        assert_eq!(int_variant(-1, "Seed"), "VMinus1");
    }

    #[test]
    fn identifiers_are_always_valid() {
        assert_eq!(snake_ident("type"), "r#type");
        assert_eq!(snake_ident("TAPose"), "ta_pose");
        assert_eq!(snake_ident("H264_output"), "h264_output");
        assert_eq!(snake_ident("3d"), "_3d");
        assert_eq!(snake_ident("self"), "self_");
        assert_eq!(snake_ident(""), "field");
        assert_eq!(module_ident("v2.2"), "v2_2");
        assert_eq!(module_ident("type"), "type_");
        assert_eq!(module_ident("3d-objects"), "v3d_objects");
        assert_eq!(module_ident("480p"), "v480p");
        assert_eq!(type_ident("LoRAInput"), "LoRAInput");
        assert_eq!(type_ident("SanaV151.6bInput"), "SanaV1516bInput");
        assert_eq!(type_ident("Audio-Output"), "AudioOutput");
        assert_eq!(type_ident("String"), "StringType");
        assert_eq!(type_ident("3D"), "T3d");
    }

    #[test]
    fn families() {
        assert_eq!(family_feature("fal-ai/sora-2/text-to-video/pro"), "sora");
        assert_eq!(family_feature("fal-ai/veo3.1/fast"), "veo");
        assert_eq!(family_feature("bria/text-to-image/3.2"), "bria");
        assert_eq!(family_feature("rundiffusion-fal/x"), "rundiffusion-fal");
    }

    #[test]
    fn module_path_prefixes_are_dropped() {
        assert_eq!(
            without_module_prefix("KlingV3MultiPromptElement", "fal-ai/kling-video/v3/pro"),
            "MultiPromptElement"
        );
        assert_eq!(
            without_module_prefix("FalAiFlux2KleinLoRAInput", "fal-ai/flux-2/klein"),
            "LoRAInput"
        );
        assert_eq!(
            without_module_prefix("VideoFile", "fal-ai/kling-video/v3/pro"),
            "VideoFile"
        );
        assert_eq!(
            without_module_prefix("Kling", "fal-ai/kling-video/v3/pro"),
            "Kling"
        );
    }

    /// The words `without_module_prefix` matches against the endpoint id: a capital after a
    /// lowercase letter or a digit starts a word, and so does an acronym's last capital when a
    /// lowercase letter follows it (`LoRAInput` keeps `RA` apart from `Input`).
    #[test]
    fn camel_case_names_split_at_each_word_and_at_an_acronyms_end() {
        let split = |name: &str| super::camel_split(name);
        assert_eq!(split("KlingV3Multi"), ["Kling", "V3", "Multi"]);
        assert_eq!(split("LoRAInput"), ["Lo", "RA", "Input"]);
        assert_eq!(split("HTTPServer"), ["HTTP", "Server"]);
        assert_eq!(split("Flux2Klein"), ["Flux2", "Klein"]);
        assert_eq!(split("ABC"), ["ABC"]);
        assert_eq!(split(""), Vec::<String>::new());
    }

    #[test]
    fn clashes_are_spelled_from_the_value() {
        assert_eq!(spelled("fast "), "FastU20");
        assert_eq!(spelled("4k"), "V4k");
        assert_eq!(hex_spelled("ab"), "X6162");
    }
}

/// Naming behaviours that the unit tests above left open (found by `cargo mutants`: these
/// mutants survived them). Written against what a name means, not its exact spelling where
/// that is a matter of taste.
#[cfg(test)]
mod survived_mutants {
    use super::{int_variant, str_variant, unique_by_value, without_module_prefix};

    #[test]
    fn only_a_pair_of_numbers_is_a_ratio() {
        assert_eq!(str_variant("16:9", "AspectRatio"), "Ratio16_9");
        for value in ["auto:9", "16:auto", "a:b"] {
            let name = str_variant(value, "AspectRatio");
            assert!(!name.starts_with("Ratio"), "{value} -> {name}");
        }
    }

    #[test]
    fn frame_rate_hints_read_as_fps() {
        // Each spelling of the hint on its own.
        for hint in ["Fps", "frame_rate", "FrameRate"] {
            assert_eq!(int_variant(24, hint), "Fps24", "hint {hint}");
        }
        assert_eq!(int_variant(24, "NumFrames"), "V24");
    }

    #[test]
    fn clashing_names_are_told_apart_by_their_own_values() {
        // Four values that read alike: the first keeps its name, the others are spelled from their
        // own value (never numbered by position), and a reserved name is never handed out.
        let candidates: Vec<(String, String)> = ["auto", "auto ", "Auto", "AUTO"]
            .iter()
            .map(|v| ("Auto".to_owned(), (*v).to_owned()))
            .collect();
        let names = unique_by_value(&candidates, &["Unknown"]);
        // `"Auto"` spelled exactly is `Auto` again (taken), so its bytes in hex follow.
        assert_eq!(names, ["Auto", "AutoU20", "X4175746F", "AUTO"]);
        let unique: std::collections::BTreeSet<&String> = names.iter().collect();
        assert_eq!(unique.len(), names.len());
        // The name of a value does not depend on its neighbours' order beyond who came first.
        let reversed: Vec<(String, String)> = candidates.iter().rev().cloned().collect();
        let again = unique_by_value(&reversed, &["Unknown"]);
        assert_eq!(again[0], "Auto");
        assert!(
            unique_by_value(
                &[("Unknown".to_owned(), "unknown".to_owned())],
                &["Unknown"]
            )[0] != "Unknown"
        );
    }

    /// A name made only of the endpoint id's words keeps its last word: dropping the module
    /// prefix never empties a name (nor gives it back whole because every word matched).
    #[test]
    fn a_name_of_only_module_words_keeps_its_last_word() {
        assert_eq!(
            without_module_prefix("KlingVideo", "fal-ai/kling-video/v3/pro"),
            "Video"
        );
        assert_eq!(
            without_module_prefix("KlingVideoV3Pro", "fal-ai/kling-video/v3/pro"),
            "Pro"
        );
    }
}
