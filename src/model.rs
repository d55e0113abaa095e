//! The MediaPipe models (converted to ONNX in `models/`) and their tract sessions.
//!
//! The selfie models, the pose detector and the lite landmark model are embedded in the binary, so
//! `bodyzone` runs with no file beside it. The full and heavy landmark models are too big to embed;
//! they are looked up as files (see [`ModelKind::search_paths`]), and any model can be overridden
//! with an explicit path.
//!
//! ## Examples
//! ```
//! use bodyzone::model::{Model, ModelKind, Precision};
//! let mut model = Model::load(ModelKind::SelfieLandscape, Precision::F32, None)?;
//! let input = tract_onnx::prelude::Tensor::zero::<f32>(&[1, 3, 144, 256])?;
//! let outputs = model.run(input)?;
//! assert_eq!(outputs[0].shape(), &[1, 1, 144, 256]);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! ## Troubleshooting
//! ### `model file not found: pose_landmark_heavy.onnx`
//! Copy `models/pose_landmark_{full,heavy}.onnx` from the repository next to the binary (in a
//! `models/` folder), into `/usr/share/bodyzone/models/`, or point `BODYZONE_MODELS` at their folder.

pub mod custom;
pub mod deconv;
pub mod kernel;
pub mod pointwise;
pub mod profile;
pub mod quantized;
pub mod spatial;
pub mod squeeze_excite;
pub mod upsample;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use tract_onnx::prelude::*;
use tract_onnx::tract_core::optim::Optimizer;

/// Which network.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ModelKind {
    /// Selfie Segmentation general, 256×256.
    SelfieGeneral,
    /// Selfie Segmentation landscape, 144×256 (H×W).
    SelfieLandscape,
    /// BlazePose detector, 224×224.
    PoseDetector,
    PoseLite,
    PoseFull,
    PoseHeavy,
}

impl ModelKind {
    pub const ALL: [ModelKind; 6] = [
        ModelKind::SelfieGeneral,
        ModelKind::SelfieLandscape,
        ModelKind::PoseDetector,
        ModelKind::PoseLite,
        ModelKind::PoseFull,
        ModelKind::PoseHeavy,
    ];

    /// The selfie segmentation networks.
    pub const SELFIE: [ModelKind; 2] = [ModelKind::SelfieGeneral, ModelKind::SelfieLandscape];
    /// The BlazePose landmark networks, smallest first.
    pub const POSE_LANDMARKS: [ModelKind; 3] = [
        ModelKind::PoseLite,
        ModelKind::PoseFull,
        ModelKind::PoseHeavy,
    ];

    /// The name on command lines, in configs and in reports.
    pub fn name(self) -> &'static str {
        match self {
            ModelKind::SelfieGeneral => "general",
            ModelKind::SelfieLandscape => "landscape",
            ModelKind::PoseDetector => "detector",
            ModelKind::PoseLite => "pose-lite",
            ModelKind::PoseFull => "pose-full",
            ModelKind::PoseHeavy => "pose-heavy",
        }
    }

    /// The name where only one kind of network can be meant (`pose --model lite`, the config's
    /// `pose = "lite"`).
    pub const fn short_name(self) -> &'static str {
        match self {
            ModelKind::SelfieGeneral => "general",
            ModelKind::SelfieLandscape => "landscape",
            ModelKind::PoseDetector => "detector",
            ModelKind::PoseLite => "lite",
            ModelKind::PoseFull => "full",
            ModelKind::PoseHeavy => "heavy",
        }
    }

    /// One of `allowed` by its [`ModelKind::name`], or by its [`ModelKind::short_name`] where
    /// all of `allowed` are networks of one kind (the selfie models, the landmark models). The
    /// error lists what is allowed (callers name the text, as clap does).
    pub fn parse_among(text: &str, allowed: &[ModelKind]) -> Result<ModelKind, String> {
        let short = [&ModelKind::SELFIE[..], &ModelKind::POSE_LANDMARKS[..]]
            .iter()
            .any(|group| allowed.iter().all(|k| group.contains(k)));
        let name = |k: ModelKind| if short { k.short_name() } else { k.name() };
        allowed
            .iter()
            .copied()
            .find(|&k| name(k) == text || k.name() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = allowed.iter().map(|&k| name(k)).collect();
                format!("expected one of {}", names.join(", "))
            })
    }

    /// `Ok(self)` when it is one of `allowed`, else [`ModelError::WrongKind`] saying what
    /// was expected.
    pub fn expect(
        self,
        allowed: &[ModelKind],
        expected: &'static str,
    ) -> Result<ModelKind, ModelError> {
        if allowed.contains(&self) {
            Ok(self)
        } else {
            Err(ModelError::WrongKind {
                kind: self,
                expected,
            })
        }
    }

    /// File name in `models/`.
    pub fn file_name(self) -> &'static str {
        match self {
            ModelKind::SelfieGeneral => "selfie_segmentation.onnx",
            ModelKind::SelfieLandscape => "selfie_segmentation_landscape.onnx",
            ModelKind::PoseDetector => "pose_detection.onnx",
            ModelKind::PoseLite => "pose_landmark_lite.onnx",
            ModelKind::PoseFull => "pose_landmark_full.onnx",
            ModelKind::PoseHeavy => "pose_landmark_heavy.onnx",
        }
    }

    /// The ONNX bytes compiled into the binary, if this model is embedded.
    pub fn embedded(self) -> Option<&'static [u8]> {
        match self {
            ModelKind::SelfieGeneral => Some(include_bytes!("../models/selfie_segmentation.onnx")),
            ModelKind::SelfieLandscape => Some(include_bytes!(
                "../models/selfie_segmentation_landscape.onnx"
            )),
            ModelKind::PoseDetector => Some(include_bytes!("../models/pose_detection.onnx")),
            ModelKind::PoseLite => Some(include_bytes!("../models/pose_landmark_lite.onnx")),
            ModelKind::PoseFull | ModelKind::PoseHeavy => None,
        }
    }

    /// NCHW input shape.
    pub fn input_shape(self) -> [usize; 4] {
        match self {
            ModelKind::SelfieGeneral => [1, 3, 256, 256],
            ModelKind::SelfieLandscape => [1, 3, 144, 256],
            ModelKind::PoseDetector => [1, 3, 224, 224],
            ModelKind::PoseLite | ModelKind::PoseFull | ModelKind::PoseHeavy => [1, 3, 256, 256],
        }
    }

    /// The output shapes the pipelines read, in order (`models/README.md`): a file whose
    /// outputs differ is another network.
    pub fn output_shapes(self) -> &'static [&'static [usize]] {
        match self {
            ModelKind::SelfieGeneral => &[&[1, 1, 256, 256]],
            ModelKind::SelfieLandscape => &[&[1, 1, 144, 256]],
            ModelKind::PoseDetector => &[&[1, 2254, 12], &[1, 2254, 1]],
            ModelKind::PoseLite | ModelKind::PoseFull | ModelKind::PoseHeavy => &[
                &[1, 195],
                &[1, 1],
                &[1, 1, 256, 256],
                &[1, 39, 64, 64],
                &[1, 117],
            ],
        }
    }

    /// Where a model that is not embedded is looked for, in order: `$BODYZONE_MODELS`, `models/`
    /// beside the executable, `/usr/share/bodyzone/models`, and the source tree it was built from.
    pub fn search_paths(self) -> Vec<PathBuf> {
        let mut dirs = Vec::new();
        if let Some(dir) = std::env::var_os("BODYZONE_MODELS") {
            dirs.push(PathBuf::from(dir));
        }
        if let Some(exe_dir) = std::env::current_exe()
            .ok()
            .and_then(|p| p.parent().map(Path::to_path_buf))
        {
            dirs.push(exe_dir.join("models"));
        }
        dirs.push(PathBuf::from("/usr/share/bodyzone/models"));
        dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("models"));
        dirs.into_iter().map(|d| d.join(self.file_name())).collect()
    }
}

impl fmt::Display for ModelKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.file_name().trim_end_matches(".onnx"))
    }
}

/// Arithmetic the network runs in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Precision {
    /// The reference.
    #[default]
    F32,
    /// Half floats, translated by tract at load time; fast only on CPUs with native f16 (Armv8.2+).
    F16,
    /// The 1×1 convolutions with 8-bit weights and activations ([`quantized`]), everything else
    /// in f32.
    Int8,
}

impl fmt::Display for Precision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Precision::F32 => "f32",
            Precision::F16 => "f16",
            Precision::Int8 => "int8",
        })
    }
}

impl std::str::FromStr for Precision {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "f32" => Ok(Precision::F32),
            "f16" => Ok(Precision::F16),
            "int8" => Ok(Precision::Int8),
            other => Err(format!(
                "unknown precision `{other}`: expected f32, f16 or int8"
            )),
        }
    }
}

/// Why a model could not be loaded or run.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    /// The model is not embedded and no file was found; the paths tried are listed.
    #[error("model file not found: {name} (looked in {})", display_paths(.tried))]
    NotFound {
        name: &'static str,
        tried: Vec<PathBuf>,
    },
    /// The file exists but could not be read.
    #[error("{}: {source}", .path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// tract rejected the model (not ONNX, unsupported op, wrong input shape…).
    #[error("{origin}: not a usable {kind} model: {message}")]
    Invalid {
        origin: String,
        kind: ModelKind,
        message: String,
    },
    /// A network asked to do another network's job (a pose model given to the segmenter).
    #[error("{kind} is not {expected}")]
    WrongKind {
        kind: ModelKind,
        expected: &'static str,
    },
    /// Inference failed (a bug or an input of the wrong shape).
    #[error("running {kind}: {message}")]
    Run { kind: ModelKind, message: String },
}

fn display_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|p| p.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

type Plan = Arc<TypedSimplePlan>;

/// A loaded, optimised network with its reusable run state (no allocation of the plan per frame).
pub struct Model {
    kind: ModelKind,
    precision: Precision,
    origin: String,
    state: TypedSimpleState,
    /// The input tensor of [`Model::run_values`], refilled each call.
    input: Option<Arc<Tensor>>,
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("kind", &self.kind)
            .field("precision", &self.precision)
            .field("origin", &self.origin)
            .finish()
    }
}

impl Model {
    /// Loads `kind` from `path` if given, else from the embedded bytes, else from the search paths.
    pub fn load(
        kind: ModelKind,
        precision: Precision,
        path: Option<&Path>,
    ) -> Result<Model, ModelError> {
        let (origin, bytes): (String, std::borrow::Cow<'static, [u8]>) =
            match (path, kind.embedded()) {
                (Some(path), _) => (path.display().to_string(), read(path)?.into()),
                (None, Some(bytes)) => (format!("embedded {}", kind.file_name()), bytes.into()),
                (None, None) => {
                    let tried = kind.search_paths();
                    let found =
                        tried
                            .iter()
                            .find(|p| p.is_file())
                            .ok_or_else(|| ModelError::NotFound {
                                name: kind.file_name(),
                                tried: tried.clone(),
                            })?;
                    (found.display().to_string(), read(found)?.into())
                }
            };
        let plan = optimise(&bytes, kind, precision).map_err(|e| ModelError::Invalid {
            origin: origin.clone(),
            kind,
            message: first_words(&format!("{e:#}")),
        })?;
        let state = plan.spawn().map_err(|e| ModelError::Invalid {
            origin: origin.clone(),
            kind,
            message: format!("{e:#}"),
        })?;
        Ok(Model {
            kind,
            precision,
            origin,
            state,
            input: None,
        })
    }

    pub fn kind(&self) -> ModelKind {
        self.kind
    }

    pub fn precision(&self) -> Precision {
        self.precision
    }

    /// Where the weights came from: a path or `embedded <file>`.
    pub fn origin(&self) -> &str {
        &self.origin
    }

    /// Runs one inference on an NCHW f32 tensor of [`ModelKind::input_shape`].
    pub fn run(&mut self, input: Tensor) -> Result<TVec<TValue>, ModelError> {
        let expected = self.kind.input_shape();
        if input.shape() != expected {
            return Err(ModelError::Run {
                kind: self.kind,
                message: format!("input shape {:?}, expected {expected:?}", input.shape()),
            });
        }
        self.run_value(input.into())
    }

    /// [`Model::run`] on the row-major values of an input tensor, copied into a tensor kept
    /// from one call to the next: with the outputs of the last call dropped, a run on the
    /// selfie models allocates nothing.
    pub fn run_values(&mut self, values: &[f32]) -> Result<TVec<TValue>, ModelError> {
        let shape = self.kind.input_shape();
        if values.len() != shape.iter().product::<usize>() {
            return Err(ModelError::Run {
                kind: self.kind,
                message: format!("{} input values, expected {shape:?}", values.len()),
            });
        }
        let mut fill = || -> TractResult<Arc<Tensor>> {
            match self.input.as_mut().and_then(Arc::get_mut) {
                Some(kept) => kept
                    .try_as_plain_ram_mut()?
                    .as_slice_mut::<f32>()?
                    .copy_from_slice(values),
                None => self.input = Some(Arc::new(Tensor::from_shape(&shape, values)?)),
            }
            self.input
                .clone()
                .ok_or_else(|| anyhow::anyhow!("no input tensor"))
        };
        let input = fill().map_err(|e| ModelError::Run {
            kind: self.kind,
            message: format!("{e:#}"),
        })?;
        self.run_value(input.into_tvalue())
    }

    fn run_value(&mut self, input: TValue) -> Result<TVec<TValue>, ModelError> {
        // The f16 plan takes half floats in as well as out.
        let input = if self.precision == Precision::F16 {
            input
                .cast_to::<f16>()
                .map(|t| t.into_owned().into_tvalue())
                .map_err(|e| ModelError::Run {
                    kind: self.kind,
                    message: format!("{e:#}"),
                })?
        } else {
            input
        };
        let outputs = self.state.run(tvec!(input)).map_err(|e| ModelError::Run {
            kind: self.kind,
            message: format!("{e:#}"),
        })?;
        if self.precision == Precision::F16 {
            return outputs
                .into_iter()
                .map(|t| t.cast_to::<f32>().map(|t| t.into_owned().into_tvalue()))
                .collect::<TractResult<_>>()
                .map_err(|e| ModelError::Run {
                    kind: self.kind,
                    message: format!("{e:#}"),
                });
        }
        Ok(outputs)
    }
}

/// The f32 values of a model output, row-major.
pub fn f32_values(kind: ModelKind, value: &Tensor) -> Result<&[f32], ModelError> {
    value
        .try_as_plain_ram()
        .and_then(|plain| plain.as_slice::<f32>())
        .map_err(|e| ModelError::Run {
            kind,
            message: format!("output is not plain f32: {e:#}"),
        })
}

/// tract's analysis errors can print whole symbolic shapes (kilobytes): enough of one to tell
/// what failed.
fn first_words(message: &str) -> String {
    const MAX: usize = 300;
    match message.char_indices().nth(MAX) {
        Some((end, _)) => format!("{}…", &message[..end]),
        None => message.to_string(),
    }
}

fn read(path: &Path) -> Result<Vec<u8>, ModelError> {
    std::fs::read(path).map_err(|source| ModelError::Io {
        path: path.to_path_buf(),
        source,
    })
}

/// tract's declutter without its ChangeAxes pass, which moves convolutions to channels-last
/// differently per platform (the landscape encoder on aarch64, not on x86_64): our ops are
/// NCHW, so the model keeps the ONNX file's layout.
pub(crate) fn declutter_keeping_layout(model: &mut TypedModel) -> TractResult<()> {
    let mut declutter = Optimizer::declutter();
    declutter
        .passes
        .retain(|pass| format!("{pass:?}") != "ChangeAxes");
    declutter.optimize(model)
}

/// Refuses a file that is another network (`--model-path` to the wrong model): its outputs
/// would be read with this network's shapes.
fn check_outputs(model: &TypedModel, kind: ModelKind) -> TractResult<()> {
    let expected = kind.output_shapes();
    let got = model
        .output_outlets()?
        .iter()
        .map(|&outlet| {
            let fact = model.outlet_fact(outlet)?;
            Ok(fact.shape.as_concrete().map(<[usize]>::to_vec))
        })
        .collect::<TractResult<Vec<_>>>()?;
    let matches = got.len() == expected.len()
        && got
            .iter()
            .zip(expected)
            .all(|(got, want)| got.as_deref() == Some(*want));
    if !matches {
        anyhow::bail!(
            "outputs {got:?}, expected {expected:?} for a {} model: is it another network?",
            kind.name()
        );
    }
    Ok(())
}

fn optimise(bytes: &[u8], kind: ModelKind, precision: Precision) -> TractResult<Plan> {
    let mut model = tract_onnx::onnx()
        .model_for_read(&mut &*bytes)?
        .with_input_fact(0, f32::fact(kind.input_shape()).into())?
        .into_typed()?;
    check_outputs(&model, kind)?;
    // Our f32 convolutions beat tract's only as vector code; the portable build does not. Int8
    // is ours alone (its 1×1 convolutions are rewritten from our f32 ones), on every CPU.
    let our_convolutions = match precision {
        Precision::F32 => kernel::simd_kernels(),
        Precision::Int8 => true,
        Precision::F16 => false,
    };
    if our_convolutions {
        declutter_keeping_layout(&mut model)?;
    } else {
        model.declutter()?;
    }
    match precision {
        Precision::F32 | Precision::Int8 => {
            upsample::rewrite(&mut model)?;
            squeeze_excite::rewrite(&mut model)?;
            deconv::rewrite(&mut model)?;
            if our_convolutions {
                spatial::rewrite(&mut model)?;
                pointwise::rewrite(&mut model)?;
            }
            if precision == Precision::Int8 {
                quantized::rewrite(&mut model)?;
            }
        }
        Precision::F16 => {
            let Some(transform) = tract_onnx::tract_core::transform::get_transform("f32_to_f16")?
            else {
                anyhow::bail!("tract has no f32_to_f16 transform");
            };
            transform.transform(&mut model)?;
        }
    }
    model.into_optimized()?.into_runnable()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_embedded_model_loads() {
        for kind in ModelKind::ALL
            .into_iter()
            .filter(|k| k.embedded().is_some())
        {
            let model = Model::load(kind, Precision::F32, None).unwrap();
            assert!(model.origin().starts_with("embedded"), "{kind}");
        }
    }

    #[test]
    fn wrong_input_shape_is_an_error_not_a_panic() {
        let mut model = Model::load(ModelKind::SelfieLandscape, Precision::F32, None).unwrap();
        let err = model
            .run(Tensor::zero::<f32>(&[1, 3, 256, 256]).unwrap())
            .unwrap_err();
        assert!(
            err.to_string().contains("expected [1, 3, 144, 256]"),
            "{err}"
        );
    }

    #[test]
    fn a_file_that_is_not_onnx_names_itself() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("cat.onnx");
        std::fs::write(&path, b"meow").unwrap();
        let err = Model::load(ModelKind::SelfieGeneral, Precision::F32, Some(&path)).unwrap_err();
        assert!(
            err.to_string().starts_with(&path.display().to_string()),
            "{err}"
        );
    }

    #[test]
    fn a_missing_file_names_itself() {
        let err = Model::load(
            ModelKind::SelfieGeneral,
            Precision::F32,
            Some(Path::new("/nope.onnx")),
        )
        .unwrap_err();
        assert!(err.to_string().starts_with("/nope.onnx"), "{err}");
    }

    #[test]
    fn another_networks_file_is_refused_naming_it() {
        // Same input size, other outputs: it would load and run, and be read as a mask.
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/pose_landmark_lite.onnx");
        let err = Model::load(ModelKind::SelfieGeneral, Precision::F32, Some(&path)).unwrap_err();
        let text = err.to_string();
        assert!(text.starts_with(&path.display().to_string()), "{text}");
        assert!(text.contains("is it another network?"), "{text}");
    }

    #[test]
    fn f16_runs() {
        let mut model = Model::load(ModelKind::SelfieLandscape, Precision::F16, None).unwrap();
        let input = vec![0.5; ModelKind::SelfieLandscape.input_shape().iter().product()];
        let outputs = model.run_values(&input).unwrap();
        let mask = f32_values(ModelKind::SelfieLandscape, &outputs[0]).unwrap();
        assert_eq!(mask.len(), 144 * 256);
        assert!(mask.iter().all(|p| (0.0..=1.0).contains(p)));
    }
}
