//! Model loading and tract sessions.
