//! Selfie segmentation.
