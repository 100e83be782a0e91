;; The stereo mix's inner loop in WebAssembly SIMD: each input's mono Int16 frame, times a gain
;; per side that moves linearly across the frame, summed into planar float32 left and right
;; sums. Four samples per instruction where V8's JIT does one: the spatial mix of 16 peers runs
;; several times faster than the same loop in JavaScript (src/bench/mixer.ts measures it).
;; Built into stereo-mix.wasm.ts by scripts/build-wasm.mjs; a unit test checks they agree.
;;
;; mix(count, gains, frames, sumLeft, sumRight), all addresses in bytes:
;;   gains     count × 4 float32: gain left at the frame's start, its step per sample, the same right
;;   frames    count × 480 Int16 samples, one frame after the other
;;   sumLeft, sumRight   480 float32 each, overwritten
;; Sample i of an input is weighted by start + (i + 1) × step, as the JavaScript mixer did.
(module
  (memory (export "memory") 1)
  (func (export "mix")
    (param $count i32) (param $gains i32) (param $frames i32) (param $sumLeft i32) (param $sumRight i32)
    (local $input i32) (local $offset i32) (local $gain i32) (local $frame i32)
    (local $left v128) (local $right v128) (local $stepLeft v128) (local $stepRight v128)
    (local $samples v128) (local $at i32)
    ;; Clear both sums (1920 bytes each).
    (local.set $offset (i32.const 0))
    (loop $clear
      (v128.store (i32.add (local.get $sumLeft) (local.get $offset)) (v128.const i32x4 0 0 0 0))
      (v128.store (i32.add (local.get $sumRight) (local.get $offset)) (v128.const i32x4 0 0 0 0))
      (local.set $offset (i32.add (local.get $offset) (i32.const 16)))
      (br_if $clear (i32.lt_u (local.get $offset) (i32.const 1920))))
    (local.set $input (i32.const 0))
    (block $done
      (loop $inputs
        (br_if $done (i32.ge_u (local.get $input) (local.get $count)))
        (local.set $gain (i32.add (local.get $gains) (i32.shl (local.get $input) (i32.const 4))))
        ;; Four lanes of the ramp: start + step × (1, 2, 3, 4), then four steps further each time.
        (local.set $left
          (f32x4.add
            (f32x4.splat (f32.load (local.get $gain)))
            (f32x4.mul (f32x4.splat (f32.load offset=4 (local.get $gain))) (v128.const f32x4 1 2 3 4))))
        (local.set $stepLeft (f32x4.splat (f32.mul (f32.load offset=4 (local.get $gain)) (f32.const 4))))
        (local.set $right
          (f32x4.add
            (f32x4.splat (f32.load offset=8 (local.get $gain)))
            (f32x4.mul (f32x4.splat (f32.load offset=12 (local.get $gain))) (v128.const f32x4 1 2 3 4))))
        (local.set $stepRight (f32x4.splat (f32.mul (f32.load offset=12 (local.get $gain)) (f32.const 4))))
        (local.set $frame (i32.add (local.get $frames) (i32.mul (local.get $input) (i32.const 960))))
        ;; $offset walks the float32 sums; the Int16 frame is read at half of it.
        (local.set $offset (i32.const 0))
        (loop $sample
          (local.set $samples
            (f32x4.convert_i32x4_s
              (v128.load16x4_s (i32.add (local.get $frame) (i32.shr_u (local.get $offset) (i32.const 1))))))
          (local.set $at (i32.add (local.get $sumLeft) (local.get $offset)))
          (v128.store (local.get $at)
            (f32x4.add (v128.load (local.get $at)) (f32x4.mul (local.get $samples) (local.get $left))))
          (local.set $at (i32.add (local.get $sumRight) (local.get $offset)))
          (v128.store (local.get $at)
            (f32x4.add (v128.load (local.get $at)) (f32x4.mul (local.get $samples) (local.get $right))))
          (local.set $left (f32x4.add (local.get $left) (local.get $stepLeft)))
          (local.set $right (f32x4.add (local.get $right) (local.get $stepRight)))
          (local.set $offset (i32.add (local.get $offset) (i32.const 16)))
          (br_if $sample (i32.lt_u (local.get $offset) (i32.const 1920))))
        (local.set $input (i32.add (local.get $input) (i32.const 1)))
        (br $inputs)))))
