//! `cli generate` and `cli chat`.
use super::Args;

pub fn generate(_args: &Args) -> Result<(), String> {
    Err("generate: not built yet".into())
}

pub fn chat(_args: &Args) -> Result<(), String> {
    Err("chat: not built yet".into())
}
