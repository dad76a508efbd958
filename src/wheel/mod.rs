//! The timer wheel (in progress).
