//! Sigra's integration tests (being written).
