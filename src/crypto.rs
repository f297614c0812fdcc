//! Sealing data at rest (being written).
