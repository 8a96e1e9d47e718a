//! Tests of the decorator.
