//! The type-level promises of the generated API (README, "The generated API"), each a program
//! that must not compile, with the compiler's error checked against the `.stderr` beside it:
//! the error code, the message and the lines it points at. A case that fails for another
//! reason (a wrong path, a family's feature off, a renamed item) has another error and fails
//! this test. `TRYBUILD=overwrite cargo test --workspace --test type_promises` rewrites the
//! `.stderr` files after a deliberate change; review their diff.
//!
//! The cases build against this crate's dev-dependencies: fal-models without its default
//! features, with only the families they name (`sora`, `meshy`, `mochi`).

#[test]
fn type_level_promises_fail_with_the_expected_errors() {
    let t = trybuild::TestCases::new();
    // The same calls done right compile, so each failure below is for the reason it names.
    t.pass("cases/pass_*.rs");
    t.compile_fail("cases/[!p]*.rs");
}
