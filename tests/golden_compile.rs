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

use fal_models::Endpoint;
use serde_json::json;

#[test]
fn open_enums_keep_unknown_values_and_odd_wire_values() {
    use enums::test::enums::{AspectRatio, Frames, Mode};
    let known: AspectRatio = serde_json::from_value(json!("16:9")).unwrap();
    assert_eq!(known, AspectRatio::Ratio16x9);
    let unknown: AspectRatio = serde_json::from_value(json!("21:9")).unwrap();
    assert_eq!(unknown, AspectRatio::Unknown("21:9".into()));
    assert_eq!(serde_json::to_value(&unknown).unwrap(), json!("21:9"));
    // Values differing by case or by a trailing space stay distinct on the wire.
    for wire in ["", "auto", "Auto", "AUTO", "fast ", "fast", "unknown"] {
        let mode: Mode = serde_json::from_value(json!(wire)).unwrap();
        assert_eq!(serde_json::to_value(&mode).unwrap(), json!(wire));
        assert!(!matches!(mode, Mode::Other(_)), "{wire:?} is a listed value");
    }
    assert_eq!(Mode::from("fast"), Mode::Fast);
    let frames: Frames = serde_json::from_value(json!(16)).unwrap();
    assert_eq!(frames, Frames::Unknown(16));
    assert_eq!(Frames::from(8), Frames::V8);
}

#[test]
fn optional_fields_are_not_sent_unless_set() {
    use nullable::test::nullable::Input;
    let input = Input::new("a cat", None::<String>);
    assert_eq!(serde_json::to_value(&input).unwrap(), json!({"prompt": "a cat", "maybe_required": null}));
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
    assert_eq!(serde_json::to_value(&preset).unwrap(), json!({"image_size": "square_hd"}));
    let custom = Input::new().image_size(ImageSize::new().width(640).height(480));
    assert_eq!(serde_json::to_value(&custom).unwrap(), json!({"image_size": {"width": 640, "height": 480}}));
    let many: Urls = serde_json::from_value(json!(["a", "b"])).unwrap();
    assert_eq!(many, Urls::Many(vec!["a".into(), "b".into()]));
    let one: Urls = serde_json::from_value(json!("a")).unwrap();
    assert_eq!(one, Urls::One("a".into()));
}

#[test]
fn secrets_are_redacted_in_debug() {
    use names::owner::_3d_model::v1_5::type_::Input;
    let input = Input::new("t").hf_token("hf_secret_value").api_key("sk-very-secret");
    let shown = format!("{input:?}");
    assert!(!shown.contains("sk-very-secret"), "{shown}");
    assert!(!shown.contains("hf_secret_value"), "{shown}");
    assert!(shown.contains("<redacted>"));
    // Serialization still sends them.
    assert_eq!(serde_json::to_value(&input).unwrap()["api_key"], json!("sk-very-secret"));
}

#[test]
fn shared_types_are_one_type() {
    // `test/share/a` and `test/share/b` use the same `File`: one Rust type.
    let a: share::test::share::a::File = serde_json::from_value(json!({"url": "data:image/png;base64,AAAA"})).unwrap();
    let b: share::test::share::b::File = a.clone();
    assert_eq!(a, b);
}

#[test]
fn outputs_ignore_unknown_fields() {
    let out: refs::test::refs::Output =
        serde_json::from_value(json!({"video": {"url": "https://x/v.mp4", "new_field": 1}, "also_new": true})).unwrap();
    assert_eq!(out.video.url, "https://x/v.mp4");
}
