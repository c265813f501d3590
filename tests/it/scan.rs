//! scan step tests
