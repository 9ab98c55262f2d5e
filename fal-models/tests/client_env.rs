//! The key and URLs from the environment. This binary holds a single test, so it owns the
//! process environment: no other test reads it while it changes.

mod client_common;

use client_common::*;
use fal_models::{Client, Error};

#[tokio::test]
async fn key_comes_from_fal_key_or_id_and_secret_and_its_absence_is_an_error() {
    // One test owns the process environment, so no other test races on it.
    let server = echo_mock().start().await.unwrap();
    let sent_key = |client: Client| {
        let server = &server;
        async move {
            server.clear_requests();
            client.submit(&EchoInput::new("x")).await.unwrap();
            server.requests()[0]
                .header("authorization")
                .unwrap()
                .to_owned()
        }
    };
    let builder = || {
        Client::builder()
            .queue_url(server.queue_url())
            .run_url(server.run_url())
    };
    unsafe {
        std::env::remove_var("FAL_KEY");
        std::env::remove_var("FAL_KEY_ID");
        std::env::remove_var("FAL_KEY_SECRET");
    }
    assert!(matches!(builder().build(), Err(Error::MissingKey)));
    assert!(matches!(Client::from_env(), Err(Error::MissingKey)));
    unsafe {
        std::env::set_var("FAL_KEY_ID", "id");
        std::env::set_var("FAL_KEY_SECRET", "secret");
    }
    assert_eq!(sent_key(builder().build().unwrap()).await, "Key id:secret");
    unsafe { std::env::set_var("FAL_KEY", "env-key") };
    assert_eq!(sent_key(builder().build().unwrap()).await, "Key env-key");
    assert_eq!(
        sent_key(builder().key("explicit").build().unwrap()).await,
        "Key explicit"
    );
    unsafe {
        std::env::set_var("FAL_QUEUE_URL", server.queue_url());
        std::env::set_var("FAL_RUN_URL", server.run_url());
    }
    assert_eq!(sent_key(Client::from_env().unwrap()).await, "Key env-key");
    unsafe {
        for name in [
            "FAL_KEY",
            "FAL_KEY_ID",
            "FAL_KEY_SECRET",
            "FAL_QUEUE_URL",
            "FAL_RUN_URL",
        ] {
            std::env::remove_var(name);
        }
    }
    // Without a key, no Authorization header at all (for key-injecting proxies).
    server.clear_requests();
    let keyless = builder().without_key().build().unwrap();
    let err = keyless.submit(&EchoInput::new("x")).await.unwrap_err();
    assert_eq!(err.status(), Some(401));
    assert_eq!(err.error_type(), Some("unauthorized"));
    assert_eq!(server.requests()[0].header("authorization"), None);
}
