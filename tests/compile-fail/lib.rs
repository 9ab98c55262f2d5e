//! Nothing here: the compile-fail cases are in `cases/`, run by `type_promises.rs`.
