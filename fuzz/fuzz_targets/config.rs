//! `bodyzone.toml` as a person writes it: any text must give a config or a list of problems.
#![no_main]

use bodyzone::body::Posture;
use bodyzone::config::Config;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // `Config::load` refuses non-UTF-8 files before parsing, so only text reaches the parser.
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Config::parse_str(text) {
        // What `bodyzone run` does next with a config: build each layer's settings from it.
        Ok(config) => {
            let _ = config.segmenter();
            let _ = config.pose_estimator(true);
            let _ = config.pose_estimator(false);
            for posture in Posture::EXERCISES {
                let _ = config.rep_rule(posture);
            }
        }
        // The problems are printed for the person: formatting them must not fail either.
        Err(err) => {
            let _ = err.to_string();
        }
    }
});
