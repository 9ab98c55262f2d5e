//! Every seed-endpoint example, run against the mock server serving the vendored schemas: the
//! examples' inputs pass fal's validation and their typed outputs decode.
#![cfg(all(
    feature = "sora",
    feature = "pika",
    feature = "veo",
    feature = "minimax",
    feature = "hunyuan"
))]

mod client_common;

use client_common::schemas_dir;
use fal_models::error::Operation;
use fal_models::mock::MockServer;

macro_rules! examples {
    ($($name:ident => $path:literal),* $(,)?) => {
        $(
            #[allow(dead_code)] // `main` is for `cargo run --example`
            #[path = $path]
            mod $name;
        )*

        #[tokio::test]
        async fn every_example_runs_against_the_mock_server() {
            let server = MockServer::builder()
                .schemas_dir(schemas_dir())
                .unwrap()
                .queue_steps(0)
                .progress_steps(1)
                .start()
                .await
                .unwrap();
            let client = server.client();
            // Concurrently: some examples poll with real-world intervals.
            let runs: Vec<std::pin::Pin<Box<dyn std::future::Future<Output = (&str, Result<String, fal_models::Error>)>>>> = vec![
                $(Box::pin(async { (stringify!($name), $name::run(&client).await) })),*
            ];
            for (name, outcome) in futures::future::join_all(runs).await {
                let url = outcome.unwrap_or_else(|e| panic!("{name}: {e}"));
                assert!(url.starts_with("https://"), "{name}: {url:?}");
            }
            // Each example made exactly one paid call: no duplicate submits.
            let paid = server.count(Operation::Submit) + server.count(Operation::Run);
            assert_eq!(paid, [$(stringify!($name)),*].len());
        }
    };
}

examples!(
    sora_2_text_to_video => "../examples/sora_2_text_to_video.rs",
    sora_2_text_to_video_pro => "../examples/sora_2_text_to_video_pro.rs",
    sora_2_image_to_video => "../examples/sora_2_image_to_video.rs",
    sora_2_image_to_video_pro => "../examples/sora_2_image_to_video_pro.rs",
    pika_v2_2_text_to_video => "../examples/pika_v2_2_text_to_video.rs",
    pika_v2_2_image_to_video => "../examples/pika_v2_2_image_to_video.rs",
    veo3_fast => "../examples/veo3_fast.rs",
    veo3_1_reference_to_video => "../examples/veo3_1_reference_to_video.rs",
    veo3_1_fast_first_last_frame_to_video => "../examples/veo3_1_fast_first_last_frame_to_video.rs",
    minimax_hailuo_02_standard_text_to_video => "../examples/minimax_hailuo_02_standard_text_to_video.rs",
    minimax_hailuo_02_standard_image_to_video => "../examples/minimax_hailuo_02_standard_image_to_video.rs",
    hunyuan_image_v3_text_to_image => "../examples/hunyuan_image_v3_text_to_image.rs",
);
