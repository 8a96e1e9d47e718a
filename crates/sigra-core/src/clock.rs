//! clock (being written).
