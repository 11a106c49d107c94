//! Profile photos: the bytes decide the format (not the file name), decoding is bounded so a
//! huge image cannot exhaust memory, and what is stored is a fresh 256×256 PNG.

use std::io::Cursor;

use image::{ImageFormat, ImageReader, Limits};

pub const MAX_BYTES: usize = 2 * 1024 * 1024;
/// Larger images are refused before decoding: 8000×8000 RGBA would already need 256 MB.
pub const MAX_SIDE: u32 = 6000;
pub const THUMBNAIL_SIDE: u32 = 256;

/// Turns an uploaded file into the stored thumbnail, or says in words what is wrong with it.
pub fn make_thumbnail(bytes: &[u8]) -> Result<Vec<u8>, String> {
    if bytes.is_empty() {
        return Err("Choose a photo to upload".into());
    }
    if bytes.len() > MAX_BYTES {
        return Err("The photo must be at most 2 MB".into());
    }
    let format = image::guess_format(bytes)
        .map_err(|_| "The file is not a PNG, JPEG or WebP image".to_string())?;
    if !matches!(
        format,
        ImageFormat::Png | ImageFormat::Jpeg | ImageFormat::WebP
    ) {
        return Err("The file is not a PNG, JPEG or WebP image".into());
    }
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    let mut limits = Limits::default();
    limits.max_image_width = Some(MAX_SIDE);
    limits.max_image_height = Some(MAX_SIDE);
    limits.max_alloc = Some(160 * 1024 * 1024);
    reader.limits(limits);
    let image = reader.decode().map_err(|e| match e {
        image::ImageError::Limits(_) => {
            format!("The photo is too large: at most {MAX_SIDE}×{MAX_SIDE} pixels")
        }
        _ => "The image could not be read; it may be damaged".to_string(),
    })?;
    let square = image.resize_to_fill(
        THUMBNAIL_SIDE,
        THUMBNAIL_SIDE,
        image::imageops::FilterType::Lanczos3,
    );
    let mut out = Vec::new();
    square
        .write_to(&mut Cursor::new(&mut out), ImageFormat::Png)
        .map_err(|_| "The photo could not be saved".to_string())?;
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{DynamicImage, RgbImage};

    fn encoded(width: u32, height: u32, format: ImageFormat) -> Vec<u8> {
        let img = DynamicImage::ImageRgb8(RgbImage::from_fn(width, height, |x, y| {
            image::Rgb([(x % 256) as u8, (y % 256) as u8, 90])
        }));
        let mut out = Vec::new();
        img.write_to(&mut Cursor::new(&mut out), format).unwrap();
        out
    }

    #[test]
    fn png_jpeg_and_webp_become_square_png_thumbnails() {
        for format in [ImageFormat::Png, ImageFormat::Jpeg, ImageFormat::WebP] {
            let thumb = make_thumbnail(&encoded(640, 300, format)).unwrap();
            let back = image::load_from_memory_with_format(&thumb, ImageFormat::Png).unwrap();
            assert_eq!((back.width(), back.height()), (256, 256), "{format:?}");
        }
    }

    #[test]
    fn text_renamed_as_an_image_is_refused() {
        assert!(
            make_thumbnail(b"hello, I am not a picture")
                .unwrap_err()
                .contains("not a PNG")
        );
    }

    #[test]
    fn huge_dimensions_are_refused_before_decoding() {
        let err = make_thumbnail(&encoded(MAX_SIDE + 1, 1, ImageFormat::Png)).unwrap_err();
        assert!(err.contains("too large"), "{err}");
    }

    #[test]
    fn a_truncated_image_is_reported_as_damaged() {
        let png = encoded(64, 64, ImageFormat::Png);
        assert!(
            make_thumbnail(&png[..png.len() / 2])
                .unwrap_err()
                .contains("could not be read")
        );
    }
}
