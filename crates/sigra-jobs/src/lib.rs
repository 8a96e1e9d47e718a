//! Background work for Sigra.
//!
//! This crate is part of the Sigra workspace plan (see `docs/ARCHITECTURE.md`)
//! and holds no public API yet: it is filled in by its own issue. It exposes
//! nothing that pretends to work.
