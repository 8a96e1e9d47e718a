//! cookie (being written).
