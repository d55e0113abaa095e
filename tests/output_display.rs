//! Displays without hardware: golden PNGs of both layouts, a framebuffer that is a temporary
//! file, and the SSD1306 driver on an in-memory I²C bus.
//!
//! Regenerate the goldens with `BODYZONE_BLESS=1 cargo test --test output_display` and look at
//! them before committing.

use std::io::{Read, Seek, SeekFrom};
use std::path::{Path, PathBuf};

use bodyzone::body::{NAMES, SKELETON};
use bodyzone::frame::Mask;
use bodyzone::output::display::{
    Canvas, DisplayState, FbInfo, Framebuffer, Layout, OLED_SIZE, Oled, Panel, PngSink, ZoneState,
    ZoneView, render_oled, render_panel, zone_colour,
};
use bodyzone::pose::Keypoint;
use embedded_graphics::pixelcolor::{BinaryColor, Rgb888};
use embedded_graphics::prelude::{RgbColor, Size};
use embedded_hal::i2c::{ErrorKind, ErrorType, I2c, Operation};
use image::RgbImage;

const MAT: [[f32; 2]; 4] = [[0.15, 0.7], [0.85, 0.7], [0.95, 0.95], [0.05, 0.95]];
const DOOR: [[f32; 2]; 3] = [[0.75, 0.1], [0.95, 0.1], [0.95, 0.4]];

/// A 160×120 scene: a gradient, a person-shaped mask blob and a standing skeleton.
struct Scene {
    frame: image::RgbImage,
    mask: Mask,
    keypoints: Vec<Keypoint>,
}

impl Scene {
    fn new() -> Self {
        let frame = image::RgbImage::from_fn(160, 120, |x, y| {
            image::Rgb([(x * 255 / 159) as u8, (y * 255 / 119) as u8, 96])
        });
        // The mask has its own (model) size: 40×30, an ellipse around the body.
        let values = (0..30)
            .flat_map(|y| (0..40).map(move |x| (x, y)))
            .map(|(x, y)| {
                let (dx, dy) = ((x as f32 - 20.0) / 6.0, (y as f32 - 14.0) / 13.0);
                if dx * dx + dy * dy <= 1.0 { 1.0 } else { 0.0 }
            })
            .collect();
        let mask = Mask::new(40, 30, values);
        let visible: [(usize, f32, f32); 13] = [
            (0, 80.0, 20.0),
            (11, 70.0, 38.0),
            (12, 90.0, 38.0),
            (13, 64.0, 55.0),
            (14, 96.0, 55.0),
            (15, 60.0, 70.0),
            (16, 100.0, 70.0),
            (23, 73.0, 72.0),
            (24, 87.0, 72.0),
            (25, 72.0, 92.0),
            (26, 88.0, 92.0),
            (27, 71.0, 110.0),
            (28, 89.0, 110.0),
        ];
        let mut keypoints: Vec<Keypoint> = NAMES
            .iter()
            .map(|&name| Keypoint {
                name,
                x: 0.0,
                y: 0.0,
                z: 0.0,
                score: 0.1,
            })
            .collect();
        for (i, x, y) in visible {
            keypoints[i] = Keypoint {
                name: NAMES[i],
                x,
                y,
                z: 0.0,
                score: 0.9,
            };
        }
        Self {
            frame,
            mask,
            keypoints,
        }
    }
}

fn with_state<R>(reps: u32, f: impl FnOnce(&DisplayState<'_>) -> R) -> R {
    let scene = Scene::new();
    let zones = [
        ZoneView {
            name: "mat",
            polygon: &MAT,
            state: ZoneState::Posing,
        },
        ZoneView {
            name: "door",
            polygon: &DOOR,
            state: ZoneState::Empty,
        },
    ];
    let state = DisplayState {
        frame: Some(&scene.frame),
        mask: Some(&scene.mask),
        keypoints: &scene.keypoints,
        skeleton: &SKELETON,
        zones: &zones,
        zone: Some("mat"),
        pose: Some("squat"),
        reps,
        fps: 9.8,
    };
    f(&state)
}

fn golden(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/golden")
        .join(name)
}

/// Compares with the golden file, or rewrites it under `BODYZONE_BLESS=1`.
fn assert_golden(image: &image::RgbImage, name: &str) {
    let path = golden(name);
    if std::env::var_os("BODYZONE_BLESS").is_some() {
        image.save(&path).unwrap();
        return;
    }
    let want = image::open(&path)
        .unwrap_or_else(|err| panic!("{}: {err} (BODYZONE_BLESS=1 writes it)", path.display()))
        .to_rgb8();
    assert_eq!(image.dimensions(), want.dimensions(), "{name}: size");
    if let Some((i, (got, want))) = image
        .pixels()
        .zip(want.pixels())
        .enumerate()
        .find(|(_, (got, want))| got != want)
    {
        let (x, y) = (i as u32 % image.width(), i as u32 / image.width());
        panic!("{name}: first differing pixel ({x}, {y}): got {got:?}, want {want:?}");
    }
}

fn sink_output(layout: Layout) -> image::RgbImage {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("out.png");
    with_state(12, |state| PngSink::new(&path, layout).show(state)).unwrap();
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name())
        .collect();
    assert_eq!(names, ["out.png"], "no temporary file is left behind");
    image::open(&path).unwrap().to_rgb8()
}

#[test]
fn panel_matches_golden() {
    assert_golden(
        &sink_output(Layout::Panel(Size::new(320, 240))),
        "display_panel_320x240.png",
    );
}

#[test]
fn oled_matches_golden() {
    assert_golden(&sink_output(Layout::Oled), "display_oled_128x64.png");
}

#[test]
fn png_sink_reports_the_path_it_cannot_write() {
    let err = PngSink::new("/nonexistent-dir/status.png", Layout::Oled)
        .show(&DisplayState::default())
        .unwrap_err();
    assert!(
        err.to_string().starts_with("/nonexistent-dir/status.png: "),
        "{err}"
    );
}

/// Reads back what the framebuffer wrote and decodes it with the given geometry.
fn read_back(file: &mut std::fs::File, info: FbInfo) -> image::RgbImage {
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0)).unwrap();
    file.read_to_end(&mut bytes).unwrap();
    let start = (info.yoffset * info.line_length) as usize;
    let bpp = info.bits_per_pixel as usize / 8;
    image::RgbImage::from_fn(info.width, info.height, |x, y| {
        let at = start + y as usize * info.line_length as usize + x as usize * bpp;
        let mut raw = [0u8; 4];
        raw[..bpp].copy_from_slice(&bytes[at..at + bpp]);
        let value = u32::from_le_bytes(raw);
        let channel = |field: bodyzone::output::display::Bitfield| {
            let v = (value >> field.offset) & ((1 << field.length) - 1);
            // Back to 8 bits the way the encoder dropped them: top bits, low bits zero.
            (v << (8 - field.length)) as u8
        };
        image::Rgb([channel(info.red), channel(info.green), channel(info.blue)])
    })
}

/// The panel PNG with each channel cut to the framebuffer's bits.
fn quantised(info: FbInfo) -> image::RgbImage {
    let mut want = sink_output(Layout::Panel(Size::new(info.width, info.height)));
    let keep = |v: u8, bits: u32| v & !((1u16 << (8 - bits)) - 1) as u8;
    for pixel in want.pixels_mut() {
        let [r, g, b] = pixel.0;
        pixel.0 = [
            keep(r, info.red.length),
            keep(g, info.green.length),
            keep(b, info.blue.length),
        ];
    }
    want
}

#[test]
fn framebuffer_16bpp_shows_the_panel_render() {
    let info = FbInfo::rgb565(320, 240);
    let mut fb =
        Framebuffer::new(tempfile::tempfile().unwrap(), Path::new("fake-fb"), info).unwrap();
    with_state(12, |state| fb.show(state)).unwrap();
    let mut file = fb.into_inner();
    assert_eq!(file.metadata().unwrap().len(), 320 * 240 * 2);
    assert_eq!(read_back(&mut file, info), quantised(info));
}

#[test]
fn framebuffer_32bpp_with_padding_and_panning() {
    let mut info = FbInfo::argb8888(320, 240);
    info.line_length = 320 * 4 + 64;
    info.yoffset = 240;
    let mut fb =
        Framebuffer::new(tempfile::tempfile().unwrap(), Path::new("fake-fb"), info).unwrap();
    with_state(12, |state| fb.show(state)).unwrap();
    let mut file = fb.into_inner();
    assert_eq!(read_back(&mut file, info), quantised(info));
    // Alpha is opaque, and the first (hidden) page was left alone.
    let mut bytes = Vec::new();
    file.seek(SeekFrom::Start(0)).unwrap();
    file.read_to_end(&mut bytes).unwrap();
    let page = (info.line_length * 240) as usize;
    assert!(bytes[..page].iter().all(|&b| b == 0));
    assert_eq!(bytes[page + 3], 0xff);
}

#[test]
fn framebuffer_24bpp() {
    let info = FbInfo::bgr888(320, 240);
    let mut fb =
        Framebuffer::new(tempfile::tempfile().unwrap(), Path::new("fake-fb"), info).unwrap();
    with_state(12, |state| fb.show(state)).unwrap();
    assert_eq!(read_back(&mut fb.into_inner(), info), quantised(info));
}

/// An I²C bus that records every write, and can be told to fail.
#[derive(Default)]
struct Recorder {
    writes: Vec<(u8, Vec<u8>)>,
    fail: bool,
}

impl ErrorType for Recorder {
    type Error = ErrorKind;
}

impl I2c for Recorder {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), ErrorKind> {
        if self.fail {
            return Err(ErrorKind::NoAcknowledge(
                embedded_hal::i2c::NoAcknowledgeSource::Address,
            ));
        }
        for operation in operations {
            match operation {
                Operation::Write(bytes) => self.writes.push((address, bytes.to_vec())),
                Operation::Read(_) => panic!("the SSD1306 driver never reads"),
            }
        }
        Ok(())
    }
}

/// Shares the recorder between the test and the driver that owns the bus.
#[derive(Clone, Default)]
struct SharedBus(std::sync::Arc<std::sync::Mutex<Recorder>>);

impl SharedBus {
    fn take(&self) -> Vec<(u8, Vec<u8>)> {
        std::mem::take(&mut self.0.lock().unwrap().writes)
    }
}

impl ErrorType for SharedBus {
    type Error = ErrorKind;
}

impl I2c for SharedBus {
    fn transaction(
        &mut self,
        address: u8,
        operations: &mut [Operation<'_>],
    ) -> Result<(), ErrorKind> {
        self.0.lock().unwrap().transaction(address, operations)
    }
}

/// Splits recorded writes into command bytes (control byte 0x00) and data bytes (0x40).
fn split(writes: &[(u8, Vec<u8>)], address: u8) -> (Vec<Vec<u8>>, Vec<u8>) {
    let (mut commands, mut data) = (Vec::new(), Vec::new());
    for (to, bytes) in writes {
        assert_eq!(*to, address);
        match bytes[0] {
            0x00 => commands.push(bytes[1..].to_vec()),
            0x40 => data.extend_from_slice(&bytes[1..]),
            other => panic!("unexpected control byte {other:#04x}"),
        }
    }
    (commands, data)
}

/// SSD1306 datasheet power-on sequence for a 128×64 panel, as the driver sends it.
const INIT: [&[u8]; 17] = [
    &[0xAE],       // display off
    &[0xD5, 0x80], // clock divide 1, oscillator 8
    &[0xA8, 0x3F], // multiplex ratio 64
    &[0xD3, 0x00], // display offset 0
    &[0x40],       // start line 0
    &[0x8D, 0x14], // charge pump on
    &[0x20, 0x00], // horizontal addressing
    &[0xDA, 0x12], // COM pins: alternative, no remap (128×64)
    &[0xA1],       // segment remap (column 127 = SEG0)
    &[0xC8],       // COM scan reversed
    &[0xD9, 0x21], // precharge phases 1 and 2
    &[0x81, 0x5F], // contrast
    &[0xDB, 0x40], // VCOMH deselect auto
    &[0xA4],       // show RAM
    &[0xA6],       // not inverted
    &[0x2E],       // scrolling off
    &[0xAF],       // display on
];

#[test]
fn ssd1306_sends_init_then_the_rendered_frame() {
    let bus = SharedBus::default();
    let mut oled = Oled::new(bus.clone(), 0x3c, Path::new("/dev/i2c-test")).unwrap();
    let (commands, data) = split(&bus.take(), 0x3c);
    assert_eq!(commands, INIT.map(<[u8]>::to_vec));
    assert!(data.is_empty());

    with_state(12, |state| oled.show(state)).unwrap();
    let (commands, data) = split(&bus.take(), 0x3c);
    assert_eq!(
        commands,
        [vec![0x21, 0, 127], vec![0x22, 0, 7]],
        "the whole screen"
    );
    let mut canvas = Canvas::new(OLED_SIZE, BinaryColor::Off);
    with_state(12, |state| render_oled(state, &mut canvas)).unwrap();
    assert_eq!(data, canvas.to_pages());
    // The same picture as the PNG sink's.
    assert_eq!(canvas.to_rgb_image(), sink_output(Layout::Oled));

    // Nothing changed: nothing sent. One changed digit: only its window.
    with_state(12, |state| oled.show(state)).unwrap();
    assert!(bus.take().is_empty());
    with_state(13, |state| oled.show(state)).unwrap();
    let (commands, data) = split(&bus.take(), 0x3c);
    let [column, page] = &commands[..] else {
        panic!("{commands:?}")
    };
    assert_eq!(column[0], 0x21);
    assert_eq!(page[0], 0x22);
    assert!(
        column[1] > 0 && column[2] < 127,
        "a narrow column window: {column:?}"
    );
    assert!(page[1] >= 4, "the reps line only: {page:?}");
    let columns = usize::from(column[2] - column[1] + 1);
    let pages = usize::from(page[2] - page[1] + 1);
    assert_eq!(data.len(), columns * pages);
}

#[test]
fn ssd1306_bus_errors_name_the_device_and_recover_after_reset() {
    let bus = SharedBus::default();
    let mut oled = Oled::new(bus.clone(), 0x3d, Path::new("/dev/i2c-7")).unwrap();
    bus.0.lock().unwrap().fail = true;
    let err = with_state(1, |state| oled.show(state)).unwrap_err();
    assert!(
        err.to_string()
            .starts_with("/dev/i2c-7: SSD1306 at I²C address 0x3d"),
        "{err}"
    );
    bus.0.lock().unwrap().fail = false;
    bus.take();
    oled.reset().unwrap();
    with_state(1, |state| oled.show(state)).unwrap();
    let (commands, data) = split(&bus.take(), 0x3d);
    assert_eq!(commands.len(), INIT.len() + 2);
    assert_eq!(data.len(), 1024, "a reset redraws the whole screen");
}

/// Renders one zone over a black frame of `frame` size on a panel of `panel` size: the panel
/// without the zone, and with it.
fn draw_zone(polygon: &[[f32; 2]], frame: (u32, u32), panel: Size) -> (RgbImage, RgbImage) {
    let frame = RgbImage::new(frame.0, frame.1);
    let render = |zones: &[ZoneView<'_>]| {
        let state = DisplayState {
            frame: Some(&frame),
            mask: None,
            keypoints: &[],
            skeleton: &SKELETON,
            zones,
            zone: None,
            pose: None,
            reps: 0,
            fps: 0.0,
        };
        let mut canvas = Canvas::new(panel, Rgb888::BLACK);
        render_panel(&state, &mut canvas).unwrap();
        canvas.to_rgb_image()
    };
    let zone = ZoneView {
        name: "mat",
        polygon,
        state: ZoneState::Occupied,
    };
    (render(&[]), render(&[zone]))
}

/// How far (px) an outline pixel may lie from the ideal edge between its rounded corners: the
/// stroke is 2 px wide, so its pixels are within 1 px of the edge, plus up to half a pixel of
/// line rasterising (1.5 at most over thousands of random zones); the rest is room for float
/// rounding, and still fails an outline moved by a few pixels.
const MAX_OFF_EDGE: f32 = 2.0;
/// How far (px, in x and y) from each point of an edge the nearest outline pixel may be: the
/// rasterised line keeps within half a pixel of the ideal one, and the point is rounded.
const MAX_GAP: i32 = 1;
/// How close (px) to the panel's border or the status bar an edge may run and still be checked:
/// beyond it the stroke may be cut off.
const MARGIN: f32 = 3.0;

/// Distance from `p` to the segment `a`–`b`.
fn distance_to_segment(p: [f32; 2], a: [f32; 2], b: [f32; 2]) -> f32 {
    let (dx, dy) = (b[0] - a[0], b[1] - a[1]);
    let length2 = dx * dx + dy * dy;
    let t = if length2 == 0.0 {
        0.0
    } else {
        (((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length2).clamp(0.0, 1.0)
    };
    (p[0] - a[0] - t * dx).hypot(p[1] - a[1] - t * dy)
}

/// Draws `polygon` as a zone and checks the outline where the panel shows the frame: every pixel
/// the zone changes has the zone's colour and lies on an edge or in the zone's name label, and
/// every edge has outline pixels all along it. Returns how many pixels the zone changed.
fn assert_outline(polygon: &[[f32; 2]], frame: (u32, u32), panel: Size) -> usize {
    let (without, with) = draw_zone(polygon, frame, panel);
    let colour = zone_colour(ZoneState::Occupied);
    let colour = [colour.r(), colour.g(), colour.b()];
    assert!(
        without.pixels().all(|p| p.0 != colour),
        "only the zone has its colour"
    );
    // The frame is black, so the view ends where the status bar starts.
    let view_height = (0..panel.height)
        .find(|&y| without.get_pixel(0, y).0 != [0, 0, 0])
        .expect("a status bar at the bottom");
    assert!(
        panel.height - view_height <= 24,
        "the status bar is one line of text, not {} rows",
        panel.height - view_height
    );

    // The frame scaled to fit the view and centred, each corner rounded to a screen pixel.
    let (fw, fh) = (frame.0 as f32, frame.1 as f32);
    let scale = (panel.width as f32 / fw).min(view_height as f32 / fh);
    let shown = |length: f32, room: u32| ((length * scale).round() as u32).min(room);
    let offset = [
        ((panel.width - shown(fw, panel.width)) / 2) as f32,
        ((view_height - shown(fh, view_height)) / 2) as f32,
    ];
    let corners: Vec<[f32; 2]> = polygon
        .iter()
        .map(|&[x, y]| {
            [
                offset[0] + (x * fw * scale).round(),
                offset[1] + (y * fh * scale).round(),
            ]
        })
        .collect();
    let edges: Vec<([f32; 2], [f32; 2])> = corners
        .iter()
        .zip(corners.iter().cycle().skip(1))
        .map(|(&a, &b)| (a, b))
        .collect();
    // The name in the 6×10 font, 3 px right of and 2 px below the first corner.
    let label_x = corners[0][0] + 3.0..corners[0][0] + 3.0 + 6.0 * 3.0;
    let label_y = corners[0][1] + 2.0..corners[0][1] + 2.0 + 10.0;

    let mut changed = 0;
    for (x, y, pixel) in with.enumerate_pixels() {
        if pixel == without.get_pixel(x, y) {
            continue;
        }
        changed += 1;
        assert_eq!(pixel.0, colour, "({x}, {y}) is not the zone's colour");
        let p = [x as f32, y as f32];
        let on_edge = edges
            .iter()
            .any(|&(a, b)| distance_to_segment(p, a, b) <= MAX_OFF_EDGE);
        let in_label = label_x.contains(&p[0]) && label_y.contains(&p[1]);
        assert!(
            on_edge || in_label,
            "({x}, {y}) is off the outline {corners:?} and its label"
        );
    }

    let outlined = |x: i32, y: i32| {
        (-MAX_GAP..=MAX_GAP).any(|dy| {
            (-MAX_GAP..=MAX_GAP).any(|dx| {
                let (x, y) = (x + dx, y + dy);
                x >= 0
                    && y >= 0
                    && with.get_pixel_checked(x as u32, y as u32).map(|p| p.0) == Some(colour)
            })
        })
    };
    let inside = |p: [f32; 2]| {
        (MARGIN..=panel.width as f32 - 1.0 - MARGIN).contains(&p[0])
            && (MARGIN..=view_height as f32 - 1.0 - MARGIN).contains(&p[1])
    };
    for &(a, b) in &edges {
        let steps = (b[0] - a[0]).abs().max((b[1] - a[1]).abs()) as usize;
        for i in 0..=steps {
            let t = i as f32 / steps.max(1) as f32;
            let p = [a[0] + t * (b[0] - a[0]), a[1] + t * (b[1] - a[1])];
            if inside(p) {
                assert!(
                    outlined(p[0].round() as i32, p[1].round() as i32),
                    "no outline at {p:?} on the edge {a:?}–{b:?}"
                );
            }
        }
    }
    changed
}

proptest::proptest! {
    /// Any zone a config may hold, on any frame shape and panel size, is outlined where it is:
    /// embedded-graphics' thick polylines overflowed on some (a 4-corner mat on the 720×1280
    /// squat clip in a 640×480 panel).
    #[test]
    fn any_zone_polygon_draws(
        polygon in proptest::collection::vec([0.0f32..=1.0, 0.0f32..=1.0], 3..8),
        frame in (16u32..1400, 16u32..1400),
        (panel_w, panel_h) in (64u32..800, 64u32..600),
    ) {
        assert_outline(&polygon, frame, Size::new(panel_w, panel_h));
    }
}

#[test]
fn the_squat_mat_draws_on_the_squat_clip() {
    let mat = [[0.1, 0.2], [0.9, 0.2], [0.95, 0.9], [0.05, 0.9]];
    let changed = assert_outline(&mat, (720, 1280), Size::new(640, 480));
    // The clip fills the 456 rows above the status bar, 256.5 px wide: the mat's edges are
    // 205 + 320 + 231 + 320 px long. A 2 px stroke covers twice that, give or take the corners;
    // the label adds at most its 18×10 box.
    let perimeter = 205 + 320 + 231 + 320;
    assert!(
        (2 * perimeter - 40..=2 * perimeter + 40 + 180).contains(&changed),
        "{changed} pixels for a perimeter of {perimeter} px"
    );
}
