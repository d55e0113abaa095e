//! The bilinear ×2 upsampling kernel on the shapes of the
//! landscape decoder (its three upsamplings: 128×9×16, 24×18×32, 16×36×64 inputs).

use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

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

criterion_group!(benches, upsample);
criterion_main!(benches);
