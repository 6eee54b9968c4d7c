//! The crate's one error type.

use std::path::PathBuf;

/// Everything that can go wrong inspecting or labelling an image. Every message names the
/// image, file or layer involved; the cause is attached as the source.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum InspectError {
    #[error("failed to read image `{image}`")]
    Oci {
        image: String,
        #[source]
        source: paks_oci::OciError,
    },

    #[error("failed to read `{}`", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    #[error("failed to read layer {index} (`{layer}`) of `{image}`")]
    Layer {
        image: String,
        index: usize,
        layer: String,
        #[source]
        source: std::io::Error,
    },

    #[error("invalid {what} in `{image}`")]
    Json {
        image: String,
        what: &'static str,
        #[source]
        source: serde_json::Error,
    },

    #[error("`{image}`: {reason}")]
    Image { image: String, reason: String },
}

impl InspectError {
    pub(crate) fn image(image: impl Into<String>, reason: impl Into<String>) -> Self {
        Self::Image {
            image: image.into(),
            reason: reason.into(),
        }
    }

    pub(crate) fn oci(image: impl Into<String>) -> impl FnOnce(paks_oci::OciError) -> Self {
        let image = image.into();
        move |source| Self::Oci { image, source }
    }

    pub(crate) fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}
