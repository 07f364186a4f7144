/*
 * Peak float32 FMA throughput of this machine, for comparing the model's
 * GFLOP/s with what the cores can do at all (`npm run bench:peak`).
 *
 * Each thread runs 10 independent chains of vector FMAs (enough to cover the
 * FMA latency on current x86 cores) with no memory traffic; one FMA on a
 * W-lane vector counts 2·W FLOPs. Measured with AVX2 (8 lanes) and, where the
 * CPU has it, AVX-512 (16 lanes), on 1 thread and on every online CPU.
 */
#include <immintrin.h>
#include <pthread.h>
#include <stdio.h>
#include <time.h>
#include <unistd.h>

#define CHAINS 10
static const long ITERS = 100000000;

static double now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

static volatile float sink;

__attribute__((target("avx2,fma"))) static void *run_avx2(void *arg) {
  (void)arg;
  __m256 a0 = _mm256_set1_ps(0), a1 = _mm256_set1_ps(1), a2 = _mm256_set1_ps(2), a3 = _mm256_set1_ps(3), a4 = _mm256_set1_ps(4);
  __m256 a5 = _mm256_set1_ps(5), a6 = _mm256_set1_ps(6), a7 = _mm256_set1_ps(7), a8 = _mm256_set1_ps(8), a9 = _mm256_set1_ps(9);
  const __m256 b = _mm256_set1_ps(1.0000001f), c = _mm256_set1_ps(1e-7f);
  for (long n = 0; n < ITERS; n++) {
    /* explicit chains keep every accumulator in a register at any optimisation level */
    a0 = _mm256_fmadd_ps(a0, b, c); a1 = _mm256_fmadd_ps(a1, b, c); a2 = _mm256_fmadd_ps(a2, b, c); a3 = _mm256_fmadd_ps(a3, b, c); a4 = _mm256_fmadd_ps(a4, b, c);
    a5 = _mm256_fmadd_ps(a5, b, c); a6 = _mm256_fmadd_ps(a6, b, c); a7 = _mm256_fmadd_ps(a7, b, c); a8 = _mm256_fmadd_ps(a8, b, c); a9 = _mm256_fmadd_ps(a9, b, c);
  }
  float s = _mm256_cvtss_f32(a0) + _mm256_cvtss_f32(a1) + _mm256_cvtss_f32(a2) + _mm256_cvtss_f32(a3) + _mm256_cvtss_f32(a4) + _mm256_cvtss_f32(a5) + _mm256_cvtss_f32(a6) + _mm256_cvtss_f32(a7) + _mm256_cvtss_f32(a8) + _mm256_cvtss_f32(a9);
  sink = s;
  return NULL;
}

__attribute__((target("avx512f"))) static void *run_avx512(void *arg) {
  (void)arg;
  __m512 a0 = _mm512_set1_ps(0), a1 = _mm512_set1_ps(1), a2 = _mm512_set1_ps(2), a3 = _mm512_set1_ps(3), a4 = _mm512_set1_ps(4);
  __m512 a5 = _mm512_set1_ps(5), a6 = _mm512_set1_ps(6), a7 = _mm512_set1_ps(7), a8 = _mm512_set1_ps(8), a9 = _mm512_set1_ps(9);
  const __m512 b = _mm512_set1_ps(1.0000001f), c = _mm512_set1_ps(1e-7f);
  for (long n = 0; n < ITERS; n++) {
    /* explicit chains keep every accumulator in a register at any optimisation level */
    a0 = _mm512_fmadd_ps(a0, b, c); a1 = _mm512_fmadd_ps(a1, b, c); a2 = _mm512_fmadd_ps(a2, b, c); a3 = _mm512_fmadd_ps(a3, b, c); a4 = _mm512_fmadd_ps(a4, b, c);
    a5 = _mm512_fmadd_ps(a5, b, c); a6 = _mm512_fmadd_ps(a6, b, c); a7 = _mm512_fmadd_ps(a7, b, c); a8 = _mm512_fmadd_ps(a8, b, c); a9 = _mm512_fmadd_ps(a9, b, c);
  }
  float s = _mm512_cvtss_f32(a0) + _mm512_cvtss_f32(a1) + _mm512_cvtss_f32(a2) + _mm512_cvtss_f32(a3) + _mm512_cvtss_f32(a4) + _mm512_cvtss_f32(a5) + _mm512_cvtss_f32(a6) + _mm512_cvtss_f32(a7) + _mm512_cvtss_f32(a8) + _mm512_cvtss_f32(a9);
  sink = s;
  return NULL;
}

static double measure(void *(*fn)(void *), int threads, int lanes) {
  pthread_t t[256];
  double t0 = now();
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, fn, NULL);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  return threads * (double)ITERS * CHAINS * lanes * 2 / (now() - t0) / 1e9;
}

int main(void) {
  int cpus = (int)sysconf(_SC_NPROCESSORS_ONLN);
  if (cpus > 256) cpus = 256;
  __builtin_cpu_init();
  if (!__builtin_cpu_supports("avx2") || !__builtin_cpu_supports("fma")) {
    printf("{\"error\": \"this CPU has no AVX2 FMA\"}\n");
    return 1;
  }
  int avx512 = __builtin_cpu_supports("avx512f");
  double a1 = measure(run_avx2, 1, 8), an = measure(run_avx2, cpus, 8);
  printf("{\"cpus\": %d, \"avx2_fma_gflops_1_thread\": %.1f, \"avx2_fma_gflops_all\": %.1f", cpus, a1, an);
  if (avx512) {
    double b1 = measure(run_avx512, 1, 16), bn = measure(run_avx512, cpus, 16);
    printf(", \"avx512_fma_gflops_1_thread\": %.1f, \"avx512_fma_gflops_all\": %.1f", b1, bn);
  } else {
    printf(", \"avx512\": false");
  }
  printf("}\n");
  return 0;
}
