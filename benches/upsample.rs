//! The bilinear ×2 upsampling kernel on the shapes of the
//! landscape decoder (its three upsamplings: 128×9×16, 24×18×32, 16×36×64 inputs), and the
//! landscape model's mask brought to a 1280×720 frame (half-pixel bilinear, into a reused buffer).

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

use bodyzone::imgproc::resize_bilinear_into;
use bodyzone::model::upsample::upsample_planes;

fn upsample(c: &mut Criterion) {
    for (ch, h, w) in [(128usize, 9usize, 16usize), (24, 18, 32), (16, 36, 64)] {
        let src: Vec<f32> = (0..ch * h * w).map(|i| (i % 97) as f32 * 0.01).collect();
        let (mut row, mut dst) = (Vec::new(), vec![0f32; 4 * src.len()]);
        c.bench_function(&format!("bilinear_x2 {ch}x{h}x{w}"), |b| {
            b.iter(|| upsample_planes(black_box(&src), h, w, &mut row, black_box(&mut dst)))
        });
    }
}

fn mask(c: &mut Criterion) {
    let (w, h) = (256, 144);
    let src: Vec<f32> = (0..w * h).map(|i| (i % 101) as f32 / 100.0).collect();
    let mut mask = vec![0f32; 1280 * 720];
    c.bench_function("mask 256x144 to 1280x720", |b| {
        b.iter(|| resize_bilinear_into(black_box(&src), w, h, &mut mask, 1280, 720))
    });
}

criterion_group!(benches, upsample, mask);
criterion_main!(benches);
