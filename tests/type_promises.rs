//! The type-level promises of the generated API, as compile-fail tests. They are rustdoc
//! `compile_fail` examples with the rustc error code each must fail with (E0061, E0639,
//! E0308): `cargo test --workspace` runs them against the already-built crates. (trybuild was
//! tried first: it builds every dependency again in a target of its own, 14 minutes and 2 GB
//! here, and its stderr snapshots break on any change of rustc's wording.)
//!
//! The same calls done right compile (so each failure below is for the reason it names):
//!
//! ```no_run
//! use fal_models::Endpoint;
//! use fal_models::fal_ai::sora_2::text_to_video::{Duration, Input};
//!
//! async fn call(client: &fal_models::Client) {
//!     let input = Input::new("a cat").duration(Duration::Seconds8);
//!     let _: <Input as Endpoint>::Output = client.run(&input).await.unwrap();
//! }
//! let input = Input::new("a cat");
//! assert_eq!(input.prompt, "a cat"); // fields are public to read
//! ```

/// `Input::new` takes every required field: an input without its prompt does not compile.
///
/// ```compile_fail,E0061
/// use fal_models::fal_ai::sora_2::text_to_video::Input;
/// let _ = Input::new();
/// ```
pub struct RequiredFields;

/// `Input` is `#[non_exhaustive]`: no struct literal outside the crate, not even with
/// `..base`, so a field fal adds later is not a breaking change.
///
/// ```compile_fail,E0639
/// use fal_models::fal_ai::sora_2::text_to_video::Input;
/// let _ = Input { prompt: "a cat".into(), ..Input::new("a dog") };
/// ```
pub struct NonExhaustive;

/// The endpoint and the output come from the input's type: a Sora input sent where Hunyuan
/// Image's output is expected does not compile.
///
/// ```compile_fail,E0308
/// use fal_models::Endpoint;
/// use fal_models::fal_ai::{hunyuan_image, sora_2};
///
/// type HunyuanOutput = <hunyuan_image::v3::text_to_image::Input as Endpoint>::Output;
///
/// async fn call(client: &fal_models::Client) {
///     let input = sora_2::text_to_video::Input::new("a cat");
///     let _: HunyuanOutput = client.run(&input).await.unwrap();
/// }
/// ```
pub struct OwnEndpointOnly;
