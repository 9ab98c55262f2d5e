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
    "Option", "Some", "None", "Result", "Ok", "Err", "String", "Vec", "Box", "Self", "Default",
    "Value", "Map", "BTreeMap", "Endpoint", "Into", "From", "Clone", "Debug", "PartialEq",
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
    match name.strip_prefix("r#") {
        Some(kw) => format!("{kw}_"),
        None => name,
    }
}

/// An UpperCamelCase type name; never a name the generated code uses itself.
pub fn type_ident(s: &str) -> String {
    let mut name = ascii_words(s).to_upper_camel_case();
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

/// Turns a list of candidate names into unique ones, in order, by appending 2, 3, ...
pub fn dedupe_names(names: &mut [String]) {
    let mut seen = std::collections::BTreeSet::new();
    for name in names.iter_mut() {
        if !seen.insert(name.clone()) {
            let mut n = 2;
            loop {
                let candidate = format!("{name}{n}");
                if seen.insert(candidate.clone()) {
                    *name = candidate;
                    break;
                }
                n += 1;
            }
        }
    }
}

/// Appends `suffix` to a possibly raw identifier (`r#type` + `_2` -> `type_2`).
pub fn suffixed(ident: &str, suffix: &str) -> String {
    format!("{}{suffix}", ident.strip_prefix("r#").unwrap_or(ident))
}

/// The variant name of a string enum value. `hint` is the enum's own name: a `Duration` of
/// `"8s"` reads `Seconds8`, an aspect ratio `"16:9"` reads `Ratio16x9`, `"720p"` reads `P720`.
pub fn str_variant(value: &str, hint: &str) -> String {
    let v = value.trim();
    if v.is_empty() {
        return if value.is_empty() { "Empty".to_owned() } else { "Blank".to_owned() };
    }
    if let Some(secs) = v.strip_suffix('s').filter(|d| is_number(d)) {
        return format!("Seconds{}", secs.replace('.', "_"));
    }
    if let Some((a, b)) = v.split_once(':').filter(|(a, b)| is_number(a) && is_number(b)) {
        return format!("Ratio{}x{}", a.replace('.', "_"), b.replace('.', "_"));
    }
    if let Some(p) = v.strip_suffix(['p', 'P']).filter(|d| is_number(d)) {
        return format!("P{p}");
    }
    if is_number(v) {
        return number_variant(v, hint);
    }
    let name = ascii_words(v).to_upper_camel_case();
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
    endpoint_id.split('/').filter(|s| !s.is_empty()).map(module_ident).collect()
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
    if family.is_empty() { "misc".to_owned() } else { family }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_enum_values_get_readable_variants() {
        assert_eq!(str_variant("16:9", "AspectRatio"), "Ratio16x9");
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
    fn dedupe_appends_numbers() {
        let mut names = vec!["Auto".to_owned(), "Auto".to_owned(), "Auto2".to_owned()];
        dedupe_names(&mut names);
        assert_eq!(names, ["Auto", "Auto2", "Auto22"]);
    }
}
