//! The Linux framebuffer (`/dev/fb0`): geometry and pixel format from the
//! `FBIOGET_VSCREENINFO`/`FBIOGET_FSCREENINFO` ioctls, any packed true-colour depth (16 bpp
//! RGB565, 24, 32), written with plain `write` (no mmap, so a test can use a temporary file).

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use embedded_graphics::pixelcolor::Rgb888;
use embedded_graphics::prelude::*;

use super::{Canvas, DisplayState, Error, Panel, render_panel};

/// Where one colour channel sits in a pixel value (`struct fb_bitfield`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Bitfield {
    pub offset: u32,
    pub length: u32,
}

impl Bitfield {
    /// An 8-bit channel value placed in this field (top bits kept).
    fn place(self, value: u8) -> u32 {
        match self.length {
            0 => 0,
            length if length >= 8 => u32::from(value) << (self.offset + length - 8),
            length => (u32::from(value) >> (8 - length)) << self.offset,
        }
    }
}

/// A framebuffer's geometry and pixel format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FbInfo {
    pub width: u32,
    pub height: u32,
    pub bits_per_pixel: u32,
    /// Bytes per row, padding included.
    pub line_length: u32,
    /// The visible area's position in the (virtual) buffer.
    pub xoffset: u32,
    pub yoffset: u32,
    pub red: Bitfield,
    pub green: Bitfield,
    pub blue: Bitfield,
    /// Alpha; written fully opaque when present.
    pub transp: Bitfield,
}

impl FbInfo {
    /// 16 bpp RGB565, rows without padding.
    pub fn rgb565(width: u32, height: u32) -> Self {
        Self::packed(width, height, 16, [(11, 5), (5, 6), (0, 5), (0, 0)])
    }

    /// 24 bpp, bytes B, G, R in memory (the usual little-endian order).
    pub fn bgr888(width: u32, height: u32) -> Self {
        Self::packed(width, height, 24, [(16, 8), (8, 8), (0, 8), (0, 0)])
    }

    /// 32 bpp XRGB8888 / ARGB8888 (bytes B, G, R, A in memory).
    pub fn argb8888(width: u32, height: u32) -> Self {
        Self::packed(width, height, 32, [(16, 8), (8, 8), (0, 8), (24, 8)])
    }

    fn packed(width: u32, height: u32, bits_per_pixel: u32, fields: [(u32, u32); 4]) -> Self {
        let [red, green, blue, transp] = fields.map(|(offset, length)| Bitfield { offset, length });
        Self {
            width,
            height,
            bits_per_pixel,
            line_length: width * bits_per_pixel / 8,
            xoffset: 0,
            yoffset: 0,
            red,
            green,
            blue,
            transp,
        }
    }

    /// Reads the geometry of an open framebuffer device.
    pub fn query(device: &File) -> std::io::Result<Self> {
        sys::query(device)
    }

    fn bytes_per_pixel(&self) -> usize {
        self.bits_per_pixel as usize / 8
    }

    /// Why this format cannot be written, if it cannot.
    fn unsupported(&self) -> Option<String> {
        let fits = |field: Bitfield| {
            field.length <= 8 && field.offset + field.length <= self.bits_per_pixel
        };
        if ![16, 24, 32].contains(&self.bits_per_pixel) {
            Some(format!(
                "{} bits per pixel (16, 24 and 32 are supported)",
                self.bits_per_pixel
            ))
        } else if self.red.length == 0 || self.green.length == 0 || self.blue.length == 0 {
            Some("no RGB bitfields (grayscale, palette or FOURCC mode)".to_string())
        } else if ![self.red, self.green, self.blue, self.transp]
            .into_iter()
            .all(fits)
        {
            Some(format!(
                "colour bitfields outside a {}-bit pixel",
                self.bits_per_pixel
            ))
        } else if self.line_length < self.width * self.bits_per_pixel / 8 {
            Some(format!(
                "line length {} shorter than a row of {} pixels",
                self.line_length, self.width
            ))
        } else {
            None
        }
    }

    /// A pixel as it is stored: little-endian, `bits_per_pixel / 8` bytes.
    fn encode(&self, colour: Rgb888) -> u32 {
        let opaque = if self.transp.length > 0 {
            ((1u32 << self.transp.length) - 1) << self.transp.offset
        } else {
            0
        };
        self.red.place(colour.r())
            | self.green.place(colour.g())
            | self.blue.place(colour.b())
            | opaque
    }
}

/// A framebuffer panel over any seekable writer (the device, or a file in tests).
pub struct Framebuffer<W> {
    out: W,
    device: PathBuf,
    info: FbInfo,
    canvas: Canvas<Rgb888>,
    bytes: Vec<u8>,
}

impl Framebuffer<File> {
    /// Opens a framebuffer device and reads its geometry.
    pub fn open(device: &Path) -> Result<Self, Error> {
        let io = |source| Error::Io {
            path: device.to_path_buf(),
            source,
        };
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .open(device)
            .map_err(io)?;
        let info = FbInfo::query(&file).map_err(io)?;
        Self::new(file, device, info)
    }
}

impl<W: Write + Seek + Send> Framebuffer<W> {
    /// A framebuffer of the given geometry written to `out`; `device` names it in errors.
    pub fn new(out: W, device: &Path, info: FbInfo) -> Result<Self, Error> {
        if let Some(reason) = info.unsupported() {
            return Err(Error::Unsupported {
                device: device.to_path_buf(),
                reason,
            });
        }
        Ok(Self {
            out,
            device: device.to_path_buf(),
            info,
            canvas: Canvas::new(Size::new(info.width, info.height), Rgb888::BLACK),
            bytes: vec![0; (info.line_length * info.height) as usize],
        })
    }

    pub fn info(&self) -> FbInfo {
        self.info
    }

    /// The writer (tests read the file back).
    pub fn into_inner(self) -> W {
        self.out
    }

    fn pack(&mut self) {
        let bpp = self.info.bytes_per_pixel();
        let width = self.info.width as usize;
        let line = self.info.line_length as usize;
        for (row, pixels) in self.canvas.pixels().chunks(width).enumerate() {
            let out = &mut self.bytes[row * line..row * line + width * bpp];
            for (dst, &colour) in out.chunks_exact_mut(bpp).zip(pixels) {
                dst.copy_from_slice(&self.info.encode(colour).to_le_bytes()[..bpp]);
            }
        }
    }
}

impl<W: Write + Seek + Send> Panel for Framebuffer<W> {
    fn show(&mut self, state: &DisplayState<'_>) -> Result<(), Error> {
        let Ok(()) = render_panel(state, &mut self.canvas);
        self.pack();
        let start = u64::from(self.info.yoffset) * u64::from(self.info.line_length)
            + u64::from(self.info.xoffset) * self.info.bytes_per_pixel() as u64;
        let io = |source| Error::Io {
            path: self.device.clone(),
            source,
        };
        self.out.seek(SeekFrom::Start(start)).map_err(io)?;
        self.out.write_all(&self.bytes).map_err(io)?;
        self.out.flush().map_err(io)
    }

    fn describe(&self) -> String {
        let FbInfo {
            width,
            height,
            bits_per_pixel,
            ..
        } = self.info;
        format!(
            "{} ({width}×{height}, {bits_per_pixel} bpp)",
            self.device.display()
        )
    }
}

/// The two ioctls, with the kernel's structs (`include/uapi/linux/fb.h`).
mod sys {
    use std::fs::File;
    use std::os::fd::AsRawFd;

    use super::{Bitfield, FbInfo};

    const FBIOGET_VSCREENINFO: libc::c_ulong = 0x4600;
    const FBIOGET_FSCREENINFO: libc::c_ulong = 0x4602;

    #[repr(C)]
    #[derive(Default, Clone, Copy)]
    struct FbBitfield {
        offset: u32,
        length: u32,
        msb_right: u32,
    }

    #[repr(C)]
    #[derive(Default)]
    struct FbVarScreeninfo {
        xres: u32,
        yres: u32,
        xres_virtual: u32,
        yres_virtual: u32,
        xoffset: u32,
        yoffset: u32,
        bits_per_pixel: u32,
        grayscale: u32,
        red: FbBitfield,
        green: FbBitfield,
        blue: FbBitfield,
        transp: FbBitfield,
        nonstd: u32,
        activate: u32,
        height: u32,
        width: u32,
        accel_flags: u32,
        pixclock: u32,
        left_margin: u32,
        right_margin: u32,
        upper_margin: u32,
        lower_margin: u32,
        hsync_len: u32,
        vsync_len: u32,
        sync: u32,
        vmode: u32,
        rotate: u32,
        colorspace: u32,
        reserved: [u32; 4],
    }

    #[repr(C)]
    #[derive(Default)]
    struct FbFixScreeninfo {
        id: [u8; 16],
        smem_start: libc::c_ulong,
        smem_len: u32,
        kind: u32,
        type_aux: u32,
        visual: u32,
        xpanstep: u16,
        ypanstep: u16,
        ywrapstep: u16,
        line_length: u32,
        mmio_start: libc::c_ulong,
        mmio_len: u32,
        accel: u32,
        capabilities: u16,
        reserved: [u16; 2],
    }

    pub(super) fn query(device: &File) -> std::io::Result<FbInfo> {
        let mut var = FbVarScreeninfo::default();
        let mut fix = FbFixScreeninfo::default();
        let fd = device.as_raw_fd();
        // SAFETY: both requests fill exactly the `#[repr(C)]` struct passed (the kernel's
        // fb_var_screeninfo / fb_fix_screeninfo layouts), which lives across the call; `fd`
        // is open for the duration. A non-framebuffer fd makes the ioctl fail with ENOTTY.
        // The request argument's C type differs between libc targets (c_ulong on glibc,
        // c_int on musl), hence the inferred cast.
        let (v, f) = unsafe {
            (
                libc::ioctl(
                    fd,
                    FBIOGET_VSCREENINFO as _,
                    &mut var as *mut FbVarScreeninfo,
                ),
                libc::ioctl(
                    fd,
                    FBIOGET_FSCREENINFO as _,
                    &mut fix as *mut FbFixScreeninfo,
                ),
            )
        };
        if v < 0 || f < 0 {
            return Err(std::io::Error::last_os_error());
        }
        let field = |b: FbBitfield| Bitfield {
            offset: b.offset,
            length: b.length,
        };
        Ok(FbInfo {
            width: var.xres,
            height: var.yres,
            bits_per_pixel: var.bits_per_pixel,
            line_length: fix.line_length,
            xoffset: var.xoffset,
            yoffset: var.yoffset,
            red: field(var.red),
            green: field(var.green),
            blue: field(var.blue),
            transp: field(var.transp),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_keep_their_top_bits() {
        let info = FbInfo::rgb565(1, 1);
        assert_eq!(info.encode(Rgb888::new(255, 0, 0)), 0xF800);
        assert_eq!(info.encode(Rgb888::new(0, 255, 0)), 0x07E0);
        assert_eq!(info.encode(Rgb888::new(0, 0, 255)), 0x001F);
        assert_eq!(info.encode(Rgb888::new(0x84, 0x82, 0x08)), 0x8401);
        assert_eq!(
            FbInfo::argb8888(1, 1).encode(Rgb888::new(1, 2, 3)),
            0xFF01_0203
        );
    }

    #[test]
    fn a_regular_file_is_not_a_framebuffer() {
        let file = tempfile::tempfile().unwrap();
        assert!(FbInfo::query(&file).is_err());
    }

    #[test]
    fn palette_modes_are_refused_with_the_device_name() {
        let mut info = FbInfo::rgb565(4, 4);
        info.bits_per_pixel = 8;
        let err = Framebuffer::new(
            std::io::Cursor::new(Vec::new()),
            Path::new("/dev/fb1"),
            info,
        )
        .err()
        .unwrap();
        assert!(
            err.to_string()
                .starts_with("/dev/fb1: unsupported framebuffer format: 8 bits"),
            "{err}"
        );
    }
}
