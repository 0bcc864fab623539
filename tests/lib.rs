//! Workspace-level end-to-end tests live in `it/` (one test binary, `it/main.rs`).
