//! A device runs for months: once warm, a frame must not allocate. The allocator here counts the
//! allocations made on the test's own thread while it says so (tests run on parallel threads).

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bodyzone::model::{Model, ModelKind, Precision};

struct Counting;

thread_local! {
    /// Allocations on this thread since counting began, if counting.
    static COUNT: Cell<Option<usize>> = const { Cell::new(None) };
}

fn counted() {
    // `try_with`: the allocator also runs while the thread's locals are torn down.
    let _ = COUNT.try_with(|c| c.set(c.get().map(|n| n + 1)));
}

// SAFETY: every method hands its arguments to `System` and returns what it returns, so the
// memory is `System`'s; the count neither allocates nor unwinds (a `const` thread-local `Cell`,
// reached through `try_with`).
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        counted();
        // SAFETY: the caller meets `alloc`'s contract, which is `System.alloc`'s.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        counted();
        // SAFETY: as in `alloc`.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        counted();
        // SAFETY: as in `alloc`; `ptr` came from this allocator, i.e. from `System`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: as in `realloc`.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[global_allocator]
static ALLOCATOR: Counting = Counting;

/// How many allocations `f` makes on this thread.
fn allocations(f: impl FnOnce()) -> usize {
    COUNT.with(|c| c.set(Some(0)));
    f();
    COUNT.with(|c| c.replace(None)).unwrap_or(0)
}

/// A frame-like input: values in [0, 1] that change from frame to frame.
fn frame(len: usize, i: usize) -> Vec<f32> {
    (0..len)
        .map(|j| ((j * 7919 + i * 104_729) % 1000) as f32 / 999.0)
        .collect()
}

#[test]
fn selfie_inference_allocates_nothing_once_warm() {
    let cases = [ModelKind::SelfieLandscape, ModelKind::SelfieGeneral]
        .into_iter()
        .flat_map(|kind| [(kind, Precision::F32), (kind, Precision::Int8)]);
    for (kind, precision) in cases {
        let mut model = Model::load(kind, precision, None).unwrap();
        let len = kind.input_shape().iter().product();
        let frames: Vec<Vec<f32>> = (0..4).map(|i| frame(len, i)).collect();
        for values in &frames[..2] {
            model.run_values(values).unwrap();
        }
        for values in &frames[2..] {
            let mut mean = 0.0;
            let n = allocations(|| {
                let outputs = model.run_values(values).unwrap();
                let mask = outputs[0].try_as_plain_ram().unwrap();
                let mask = mask.as_slice::<f32>().unwrap();
                mean = mask.iter().sum::<f32>() / mask.len() as f32;
            });
            assert_eq!(n, 0, "{kind} {precision}: allocations in a warm inference");
            assert!(
                (0.0..=1.0).contains(&mean),
                "{kind} {precision}: mask mean {mean}"
            );
        }
    }
}

/// The run loop's analysis with pose off (the landscape model, mask smoothing, a zone with a
/// person in it): a warm frame allocates nothing, from the picture to the zone decision.
#[test]
fn segmentation_pipeline_allocates_nothing_once_warm() {
    use bodyzone::config::Config;
    use bodyzone::exercise::events::EventKind;
    use bodyzone::runner::Pipeline;
    use std::time::Duration;

    let config = Config::parse_str(
        "[model]\npose = \"off\"\n[smoothing]\nmask = 0.5\n\
         [[zone]]\nname = \"mat\"\npolygon = [[0.2, 0.5], [0.8, 0.5], [0.8, 0.95], [0.2, 0.95]]\n",
    )
    .unwrap();
    let mut pipeline = Pipeline::new(&config).unwrap();
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/squat_frame20.jpg"
    );
    let person = bodyzone::files::load_rgb(path.as_ref()).unwrap();
    let moved = image::imageops::flip_horizontal(&person);
    let frames = [&person, &moved];
    // Warm: the zone is entered and settles, every buffer has its size.
    let mut entered = false;
    for i in 0..30 {
        let at = Duration::from_millis(100 * i);
        let result = pipeline.process(frames[i as usize % 2], i, at).unwrap();
        entered |= result.events.iter().any(|e| e.kind == EventKind::Enter);
    }
    assert!(entered, "the person never entered the mat");
    for i in 30..36 {
        let at = Duration::from_millis(100 * i);
        let mut coverage = 0.0;
        let n = allocations(|| {
            let result = pipeline.process(frames[i as usize % 2], i, at).unwrap();
            let mask = result.mask.as_ref().unwrap().probabilities();
            coverage = mask.iter().sum::<f32>() / mask.len() as f32;
            assert!(result.events.is_empty(), "{:?}", result.events);
        });
        assert_eq!(n, 0, "allocations in warm frame {i}");
        assert!(coverage > 0.01, "no person in frame {i}");
    }
}
