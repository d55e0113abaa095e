//! One file per subcommand: its flags (`Args`) and its `run`; [`batch`] is what the commands
//! going through directories share.

pub mod batch;
pub mod bench;
pub mod demo;
pub mod devices;
pub mod info;
pub mod pose;
pub mod run;
pub mod segment;
pub mod selftest;
