//! Every golden snapshot of the generator (codegen/tests/golden/*.rs) compiles against the
//! real runtime, and a few behaviours of that code hold at run time.

#![allow(dead_code)]

mod nullable {
    include!("../codegen/tests/golden/nullable.rs");
}
mod enums {
    include!("../codegen/tests/golden/enums.rs");
}
mod refs {
    include!("../codegen/tests/golden/refs.rs");
}
mod unions {
    include!("../codegen/tests/golden/unions.rs");
}
mod collections {
    include!("../codegen/tests/golden/collections.rs");
}
mod names {
    include!("../codegen/tests/golden/names.rs");
}
mod share {
    include!("../codegen/tests/golden/share.rs");
}
mod degenerate {
    include!("../codegen/tests/golden/degenerate.rs");
}
mod fuzz_found {
    include!("../codegen/tests/golden/fuzz_found.rs");
}
mod api_v2 {
    include!("../codegen/tests/golden/api_v2.rs");
}
mod retired {
    include!("../codegen/tests/golden/retired.rs");
}

use fal_models::Endpoint;
use serde_json::json;

#[test]
fn open_enums_keep_unknown_values_and_odd_wire_values() {
    use enums::test::enums::{AspectRatio, Frames, Mode};
    let known: AspectRatio = serde_json::from_value(json!("16:9")).unwrap();
    assert!(
        matches!(known, AspectRatio::Ratio16_9),
        "a listed value deserializes to its variant"
    );
    let unknown: AspectRatio = serde_json::from_value(json!("21:9")).unwrap();
    assert!(matches!(&unknown, AspectRatio::Unknown(v) if v == "21:9"));
    assert_eq!(serde_json::to_value(&unknown).unwrap(), json!("21:9"));
    // Values differing by case or by a trailing space stay distinct on the wire.
    for wire in ["", "auto", "Auto", "AUTO", "fast ", "fast", "unknown"] {
        let mode: Mode = serde_json::from_value(json!(wire)).unwrap();
        assert_eq!(serde_json::to_value(&mode).unwrap(), json!(wire));
        assert!(
            !matches!(mode, Mode::Unknown(_)),
            "{wire:?} is a listed value"
        );
    }
    assert!(matches!(Mode::from("fast"), Mode::Fast));
    assert!(
        matches!(Mode::from("unknown"), Mode::UnknownValue),
        "a value spelled like the catch-all is listed"
    );
    let frames: Frames = serde_json::from_value(json!(16)).unwrap();
    assert!(matches!(frames, Frames::Unknown(16)));
    assert!(matches!(Frames::from(8), Frames::V8));
}

/// Open enums have value semantics: the wire value decides equality, hashing and parsing.
#[test]
fn open_enums_compare_hash_and_parse_by_wire_value() {
    use enums::test::enums::{AspectRatio, Frames};
    use std::collections::HashSet;
    // A known value held in the catch-all is that value.
    assert_eq!(AspectRatio::Unknown("16:9".into()), AspectRatio::Ratio16_9);
    assert_ne!(AspectRatio::Unknown("21:9".into()), AspectRatio::Ratio16_9);
    assert_ne!(AspectRatio::Ratio9_16, AspectRatio::Ratio16_9);
    let set: HashSet<AspectRatio> = [AspectRatio::Ratio16_9, AspectRatio::Unknown("16:9".into())]
        .into_iter()
        .collect();
    assert_eq!(set.len(), 1, "equal values hash alike");
    // Every way in maps a listed value to its variant.
    assert!(matches!(
        "9:16".parse::<AspectRatio>().unwrap(),
        AspectRatio::Ratio9_16
    ));
    assert!(matches!(
        AspectRatio::from(String::from("auto")),
        AspectRatio::Auto
    ));
    assert!(matches!("4:3".parse::<AspectRatio>().unwrap(), AspectRatio::Unknown(v) if v == "4:3"));
    // as_str, Display and KNOWN follow the document.
    assert_eq!(AspectRatio::Ratio1_1.as_str(), "1:1");
    assert_eq!(AspectRatio::Unknown("4:3".into()).to_string(), "4:3");
    assert_eq!(AspectRatio::KNOWN, &["16:9", "9:16", "1:1", "auto"]);
    // Integer enums alike.
    assert_eq!(Frames::Unknown(8), Frames::V8);
    assert!(matches!("12".parse::<Frames>().unwrap(), Frames::V12));
    assert!("twelve".parse::<Frames>().is_err());
    assert_eq!(Frames::V4.to_string(), "4");
    assert_eq!(Frames::V4.as_i64(), 4);
    assert_eq!(Frames::KNOWN, &[4, 8, 12]);
}

/// Inputs carry fields the bindings do not declare, and keep them through a round trip.
#[test]
fn inputs_carry_undeclared_fields() {
    use api_v2::test::api_v2::Input;
    let input = Input::new("a cat", "https://x/cat.png")
        .extra("new_param", json!({"k": 1}))
        .note("n");
    assert_eq!(
        serde_json::to_value(&input).unwrap(),
        json!({"prompt": "a cat", "image_url": "https://x/cat.png", "note": "n", "new_param": {"k": 1}})
    );
    let sent = json!({"prompt": "p", "image_url": "u", "format": "pcm_16000", "brand_new": [1, 2]});
    let typed: Input = serde_json::from_value(sent.clone()).unwrap();
    assert_eq!(typed.extra.get("brand_new"), Some(&json!([1, 2])));
    assert!(
        typed.extra.get("format").is_none(),
        "declared keys go to their fields"
    );
    assert_eq!(serde_json::to_value(&typed).unwrap(), sent);
}

/// The constructor takes `prompt` first, whatever the document's order; nullable list items
/// are `Option`s; outputs can be built in a test.
#[test]
fn constructors_nullable_items_and_outputs_for_tests() {
    use api_v2::test::api_v2::{File, Input, Output, OutputStyle};
    let input = Input::new("the prompt", "https://x/in.png").tags(vec![Some("a".into()), None]);
    let value = serde_json::to_value(&input).unwrap();
    assert_eq!(value["prompt"], json!("the prompt"));
    assert_eq!(value["image_url"], json!("https://x/in.png"));
    assert_eq!(value["tags"], json!(["a", null]));
    let back: Input = serde_json::from_value(value).unwrap();
    assert_eq!(back.tags, Some(vec![Some("a".to_owned()), None]));
    let mut out = Output::new(OutputStyle::Y, File::new("https://x/v.mp4"));
    out.seed = Some(3);
    assert_eq!(
        serde_json::to_value(&out).unwrap(),
        json!({"style": "y", "video": {"url": "https://x/v.mp4"}, "seed": 3})
    );
}

/// A deprecated property still round-trips; the attribute warns the user, not the bindings.
#[test]
#[allow(deprecated)]
fn deprecated_fields_still_work() {
    use api_v2::test::api_v2::Input;
    let input = Input::new("p", "u").old_knob(3);
    assert_eq!(input.old_knob, Some(3));
    assert_eq!(serde_json::to_value(&input).unwrap()["old_knob"], json!(3));
}

#[test]
fn optional_fields_are_not_sent_unless_set() {
    use nullable::test::nullable::Input;
    let input = Input::new("a cat", None::<String>);
    assert_eq!(
        serde_json::to_value(&input).unwrap(),
        json!({"prompt": "a cat", "maybe_required": null})
    );
    let input = input.seed(7).strength(0.25);
    assert_eq!(
        serde_json::to_value(&input).unwrap(),
        json!({"prompt": "a cat", "maybe_required": null, "seed": 7, "strength": 0.25})
    );
    assert_eq!(<Input as Endpoint>::ENDPOINT_ID, "test/nullable");
}

#[test]
fn unions_take_either_shape() {
    use unions::test::unions::{ImageSize, ImageSizePreset, Input, Urls};
    let preset = Input::new().image_size(ImageSizePreset::SquareHd);
    assert_eq!(
        serde_json::to_value(&preset).unwrap(),
        json!({"image_size": "square_hd"})
    );
    // A preset as text, as `.output_format("png")` takes one (no compile error).
    let text = Input::new().image_size("landscape_16_9");
    assert_eq!(
        serde_json::to_value(&text).unwrap(),
        json!({"image_size": "landscape_16_9"})
    );
    let custom = Input::new().image_size(ImageSize::new().width(640).height(480));
    assert_eq!(
        serde_json::to_value(&custom).unwrap(),
        json!({"image_size": {"width": 640, "height": 480}})
    );
    let many: Urls = serde_json::from_value(json!(["a", "b"])).unwrap();
    assert_eq!(many, Urls::Many(vec!["a".into(), "b".into()]));
    let one: Urls = serde_json::from_value(json!("a")).unwrap();
    assert_eq!(one, Urls::One("a".into()));
}

#[test]
fn secrets_are_redacted_in_debug() {
    use names::owner::v3d_model::v1_5::type_::Input;
    let input = Input::new("t")
        .hf_token("hf_secret_value")
        .api_key("sk-very-secret");
    let shown = format!("{input:?}");
    assert!(!shown.contains("sk-very-secret"), "{shown}");
    assert!(!shown.contains("hf_secret_value"), "{shown}");
    assert!(shown.contains("<redacted>"));
    // Serialization still sends them.
    assert_eq!(
        serde_json::to_value(&input).unwrap()["api_key"],
        json!("sk-very-secret")
    );
}

/// The fields `Debug` redacts are the fields `Endpoint::SECRET_FIELDS` lists (the client
/// scrubs those from errors): one rule (fal-schema's `is_secret`), at any depth of the input,
/// by name (`hf_token`, `openai_apikey`) or by schema (`format: password`).
#[test]
fn secret_fields_list_exactly_what_debug_redacts() {
    use names::owner::v3d_model::v1_5::type_::{Input, ProviderAuth};
    assert_eq!(
        Input::SECRET_FIELDS,
        &["api_key", "credential", "hf_token", "openai_apikey"]
    );
    let input = Input::new("t").hf_token("hf-1").api_key("sk-2").provider(
        ProviderAuth::new()
            .openai_apikey("sk-3")
            .credential("pw-4")
            .region("region-5"),
    );
    let shown = format!("{input:?}");
    let wire = serde_json::to_value(&input).unwrap();
    let mut redacted = Vec::new();
    for (field, value) in [
        ("hf_token", "hf-1"),
        ("api_key", "sk-2"),
        ("openai_apikey", "sk-3"),
        ("credential", "pw-4"),
        ("region", "region-5"),
    ] {
        assert!(wire.to_string().contains(value), "{field} is sent");
        if !shown.contains(value) {
            redacted.push(field);
        }
    }
    redacted.sort();
    assert_eq!(redacted, Input::SECRET_FIELDS, "{shown}");
}

#[test]
fn media_types_are_shared_and_other_shapes_stay_local() {
    // `test/share/a` and `test/share/b` use fal's `File`: one Rust type, so a value of one is
    // a value of the other (this line would not compile if they were two types).
    let json = json!({"url": "data:image/png;base64,AAAA", "content_type": "image/png"});
    let a: share::test::share::a::File = serde_json::from_value(json.clone()).unwrap();
    let b: share::test::share::b::File = a;
    assert_eq!(serde_json::to_value(&b).unwrap(), json);
    assert_eq!(
        std::any::type_name::<share::test::share::a::File>(),
        std::any::type_name::<share::types::File>()
    );
    // `test/share/c` has a `File` of another shape: its own type, in its own module.
    assert_ne!(
        std::any::type_name::<share::test::share::c::File>(),
        std::any::type_name::<share::types::File>()
    );
}

#[test]
fn outputs_ignore_unknown_fields() {
    let out: refs::test::refs::Output = serde_json::from_value(
        json!({"video": {"url": "https://x/v.mp4", "new_field": 1}, "also_new": true}),
    )
    .unwrap();
    assert_eq!(out.video.url, "https://x/v.mp4");
}
