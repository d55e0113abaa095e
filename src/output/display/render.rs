//! What a display shows, drawn on any embedded-graphics `DrawTarget`: [`render_panel`] for
//! colour screens (camera image, mask tint, skeleton, zones, status bar) and [`render_oled`]
//! for the 128×64 monochrome OLED (zone, pose, reps, fps in large type).

use embedded_graphics::mono_font::MonoTextStyle;
use embedded_graphics::mono_font::ascii::{FONT_6X10, FONT_9X15_BOLD, FONT_10X20};
use embedded_graphics::pixelcolor::{BinaryColor, Rgb888};
use embedded_graphics::prelude::*;
use embedded_graphics::primitives::{Circle, Line, PrimitiveStyle, Rectangle};
use embedded_graphics::text::{Alignment, Baseline, Text, TextStyleBuilder};

use super::{DisplayState, ZoneState};

/// Keypoints below this visibility are not drawn (MediaPipe's own rendering threshold).
const MIN_KEYPOINT_SCORE: f32 = 0.5;
/// How strongly the person mask tints the image (MediaPipe's overlay uses about this).
const MASK_ALPHA: f32 = 0.5;
const MASK_TINT: Rgb888 = Rgb888::new(0, 160, 255);
const SKELETON: Rgb888 = Rgb888::new(255, 255, 255);
const JOINT: Rgb888 = Rgb888::new(255, 64, 64);
const STATUS_BACKGROUND: Rgb888 = Rgb888::new(24, 24, 24);
const STATUS_TEXT: Rgb888 = Rgb888::new(230, 230, 230);

/// The outline colour of a zone in each state.
pub fn zone_colour(state: ZoneState) -> Rgb888 {
    match state {
        ZoneState::Empty => Rgb888::new(150, 150, 150),
        ZoneState::Occupied => Rgb888::new(255, 190, 0),
        ZoneState::Posing => Rgb888::new(0, 220, 60),
    }
}

/// One line of status: `mat | squat | 12 reps | 9.8 fps`.
pub fn status_line(state: &DisplayState<'_>) -> String {
    format!("{} | {:.1} fps", status_headline(state), state.fps)
}

/// The status line without the frame rate: what changes when something happens in a zone.
pub fn status_headline(state: &DisplayState<'_>) -> String {
    let mut parts = Vec::with_capacity(3);
    parts.push(state.zone.unwrap_or("no zone").to_string());
    if let Some(pose) = state.pose {
        parts.push(pose.to_string());
    }
    parts.push(format!("{} reps", state.reps));
    parts.join(" | ")
}

/// Draws the full view on a colour target of any size: the frame letterboxed above a status
/// bar, the mask as a tint, zones outlined in their state's colour, the skeleton on top.
pub fn render_panel<D>(state: &DisplayState<'_>, target: &mut D) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Rgb888>,
{
    let size = target.bounding_box().size;
    let font = if size.width >= 480 {
        &FONT_10X20
    } else {
        &FONT_6X10
    };
    let bar_height = (font.character_size.height + 4).min(size.height);
    let view = Rectangle::new(
        Point::zero(),
        Size::new(size.width, size.height - bar_height),
    );
    target.clear(Rgb888::BLACK)?;
    draw_scene(state, view, target)?;

    let bar = Rectangle::new(
        Point::new(0, view.size.height as i32),
        Size::new(size.width, bar_height),
    );
    bar.into_styled(PrimitiveStyle::with_fill(STATUS_BACKGROUND))
        .draw(target)?;
    Text::with_baseline(
        &status_line(state),
        bar.top_left + Point::new(3, 2),
        MonoTextStyle::new(font, STATUS_TEXT),
        Baseline::Top,
    )
    .draw(target)?;
    Ok(())
}

/// Draws the frame alone, scaled to fill the target: mask tint, zones and skeleton on the
/// camera picture, no status bar (annotated pictures: `pose --overlay`).
pub fn render_scene<D>(state: &DisplayState<'_>, target: &mut D) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Rgb888>,
{
    let view = target.bounding_box();
    target.clear(Rgb888::BLACK)?;
    draw_scene(state, view, target)
}

/// The frame letterboxed into `view`, the mask as a tint, zones outlined in their state's
/// colour, the skeleton on top. Lines thicken with the view so a 12-megapixel picture shows
/// them as a 640×480 panel does.
fn draw_scene<D>(state: &DisplayState<'_>, view: Rectangle, target: &mut D) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Rgb888>,
{
    let Some(frame) = state.frame else {
        return Ok(());
    };
    let mut placement = Placement::fit(frame.width(), frame.height(), view.size);
    placement.offset += view.top_left;
    let stroke = (view.size.width.max(view.size.height) / 300).max(2);
    draw_frame(state, frame, &placement, target)?;
    for zone in state.zones {
        let points: Vec<Point> = zone
            .polygon
            .iter()
            .chain(zone.polygon.first())
            .map(|&[x, y]| placement.to_screen(x * frame.width() as f32, y * frame.height() as f32))
            .collect();
        let colour = zone_colour(zone.state);
        // Edge by edge: embedded-graphics' thick `Polyline` joins overflow `i32` on some
        // corners (a 4-corner mat on a portrait clip panicked in debug builds).
        let style = PrimitiveStyle::with_stroke(colour, stroke);
        for edge in points.windows(2) {
            Line::new(edge[0], edge[1])
                .into_styled(style)
                .draw(target)?;
        }
        if let Some(&first) = points.first() {
            Text::with_baseline(
                zone.name,
                first + Point::new(3, 2),
                MonoTextStyle::new(&FONT_6X10, colour),
                Baseline::Top,
            )
            .draw(target)?;
        }
    }
    draw_skeleton(state, &placement, stroke, target)
}

/// Draws the monochrome status screen: zone (and fps) on top, the pose in bold, the rep count
/// in the largest font. Made for 128×64; larger targets get the same layout in the corner.
pub fn render_oled<D>(state: &DisplayState<'_>, target: &mut D) -> Result<(), D::Error>
where
    D: DrawTarget<Color = BinaryColor>,
{
    let width = target.bounding_box().size.width as i32;
    target.clear(BinaryColor::Off)?;
    let small = MonoTextStyle::new(&FONT_6X10, BinaryColor::On);
    Text::with_baseline(
        state.zone.unwrap_or("no zone"),
        Point::zero(),
        small,
        Baseline::Top,
    )
    .draw(target)?;
    let right = TextStyleBuilder::new()
        .alignment(Alignment::Right)
        .baseline(Baseline::Top)
        .build();
    Text::with_text_style(
        &format!("{:.0}fps", state.fps),
        Point::new(width - 1, 0),
        small,
        right,
    )
    .draw(target)?;
    Line::new(Point::new(0, 11), Point::new(width - 1, 11))
        .into_styled(PrimitiveStyle::with_stroke(BinaryColor::On, 1))
        .draw(target)?;
    Text::with_baseline(
        state.pose.unwrap_or("-"),
        Point::new(0, 15),
        MonoTextStyle::new(&FONT_9X15_BOLD, BinaryColor::On),
        Baseline::Top,
    )
    .draw(target)?;
    Text::with_baseline(
        &format!("{} reps", state.reps),
        Point::new(0, 40),
        MonoTextStyle::new(&FONT_10X20, BinaryColor::On),
        Baseline::Top,
    )
    .draw(target)?;
    Ok(())
}

/// Where the frame sits on screen: scaled to fit, centred (letterboxed).
struct Placement {
    scale: f32,
    offset: Point,
    size: Size,
}

impl Placement {
    fn fit(width: u32, height: u32, view: Size) -> Self {
        let scale = (view.width as f32 / width as f32).min(view.height as f32 / height as f32);
        let size = Size::new(
            ((width as f32 * scale).round() as u32).min(view.width),
            ((height as f32 * scale).round() as u32).min(view.height),
        );
        let offset = Point::new(
            ((view.width - size.width) / 2) as i32,
            ((view.height - size.height) / 2) as i32,
        );
        Self {
            scale,
            offset,
            size,
        }
    }

    /// Frame pixel coordinates → screen point.
    fn to_screen(&self, x: f32, y: f32) -> Point {
        self.offset
            + Point::new(
                (x * self.scale).round() as i32,
                (y * self.scale).round() as i32,
            )
    }
}

fn draw_frame<D>(
    state: &DisplayState<'_>,
    frame: &image::RgbImage,
    placement: &Placement,
    target: &mut D,
) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Rgb888>,
{
    let Size { width, height } = placement.size;
    if width == 0 || height == 0 {
        return Ok(());
    }
    // Nearest-neighbour sampling at pixel centres, of the frame and of the mask (which may have
    // another size, e.g. the model's).
    let sample = |x: u32, size: u32, source: u32| -> u32 {
        (((x as f32 + 0.5) * source as f32 / size as f32) as u32).min(source - 1)
    };
    let pixels = (0..height)
        .flat_map(|y| (0..width).map(move |x| (x, y)))
        .map(|(x, y)| {
            let [r, g, b] = frame
                .get_pixel(
                    sample(x, width, frame.width()),
                    sample(y, height, frame.height()),
                )
                .0;
            let mut colour = [r as f32, g as f32, b as f32];
            if let Some(mask) = state.mask {
                let p = mask.get(
                    sample(x, width, mask.width()),
                    sample(y, height, mask.height()),
                );
                let alpha = MASK_ALPHA * p.clamp(0.0, 1.0);
                let tint = [MASK_TINT.r(), MASK_TINT.g(), MASK_TINT.b()];
                for (c, t) in colour.iter_mut().zip(tint) {
                    *c = *c * (1.0 - alpha) + t as f32 * alpha;
                }
            }
            Rgb888::new(
                colour[0].round() as u8,
                colour[1].round() as u8,
                colour[2].round() as u8,
            )
        });
    target.fill_contiguous(&Rectangle::new(placement.offset, placement.size), pixels)
}

fn draw_skeleton<D>(
    state: &DisplayState<'_>,
    placement: &Placement,
    stroke: u32,
    target: &mut D,
) -> Result<(), D::Error>
where
    D: DrawTarget<Color = Rgb888>,
{
    let visible = |i: usize| {
        state
            .keypoints
            .get(i)
            .filter(|k| k.score >= MIN_KEYPOINT_SCORE)
    };
    let bone = PrimitiveStyle::with_stroke(SKELETON, stroke);
    for &(a, b) in state.skeleton {
        if let (Some(a), Some(b)) = (visible(a), visible(b)) {
            Line::new(placement.to_screen(a.x, a.y), placement.to_screen(b.x, b.y))
                .into_styled(bone)
                .draw(target)?;
        }
    }
    let joint = PrimitiveStyle::with_fill(JOINT);
    for keypoint in state
        .keypoints
        .iter()
        .filter(|k| k.score >= MIN_KEYPOINT_SCORE)
    {
        Circle::with_center(placement.to_screen(keypoint.x, keypoint.y), 2 * stroke + 1)
            .into_styled(joint)
            .draw(target)?;
    }
    Ok(())
}
