//! The `sigra` command (being written).
fn main() {}
