//! Rate-limit rules (being written: owned by the config helper).
