// tensorswitch._cpu: the cpu backend's memory and kernels.  Python (backends/cpu.py) passes Memory objects,
// element offsets, shapes and element strides; nothing here touches a Python object inside a loop, and loops over
// more than kGrain elements release the GIL and run on OpenMP threads.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <cstdlib>
#include <mutex>
#include <unordered_map>

#include "kernels.h"
#include "elementwise_ops.inc"

namespace py = pybind11;
using ts::Dims;
using Shape = std::vector<int64_t>;

// -- memory: a caching pool, so that a loop that frees and allocates the same sizes never touches the OS -----------

namespace {

struct Pool {
    std::mutex mu;
    std::unordered_map<size_t, std::vector<void*>> free_blocks;
    size_t cached = 0;
    size_t limit = size_t(2) << 30;  // keep at most 2 GiB of freed blocks

    static size_t round(size_t n) {
        if (n <= 4096) return (n + 63) & ~size_t(63);
        return (n + 4095) & ~size_t(4095);
    }
    void* get(size_t n) {
        {
            std::lock_guard<std::mutex> g(mu);
            auto it = free_blocks.find(n);
            if (it != free_blocks.end() && !it->second.empty()) {
                void* p = it->second.back();
                it->second.pop_back();
                cached -= n;
                return p;
            }
        }
        void* p = std::aligned_alloc(64, n);
        if (!p) {
            release_all();
            p = std::aligned_alloc(64, n);
        }
        if (!p) throw std::bad_alloc();
        return p;
    }
    void put(void* p, size_t n) {
        std::lock_guard<std::mutex> g(mu);
        if (cached + n > limit) {
            std::free(p);
            return;
        }
        free_blocks[n].push_back(p);
        cached += n;
    }
    void release_all() {
        std::lock_guard<std::mutex> g(mu);
        for (auto& kv : free_blocks)
            for (void* p : kv.second) std::free(p);
        free_blocks.clear();
        cached = 0;
    }
};

Pool& pool() {
    static Pool* p = new Pool();  // never destroyed: Memory objects may outlive static destruction at exit
    return *p;
}

// A cpu buffer is a PyCapsule over pool memory: the cheapest Python object there is (tensor creation is on the hot
// path of every op).  A 64-byte header in front of the data keeps the block's capacity and the usable size.
constexpr const char* kCapsule = "tensorswitch.cpu.memory";
constexpr size_t kHeader = 64;

void free_capsule(PyObject* capsule) {
    char* data = static_cast<char*>(PyCapsule_GetPointer(capsule, kCapsule));
    if (!data) {
        PyErr_Clear();
        return;
    }
    char* base = data - kHeader;
    pool().put(base, reinterpret_cast<size_t*>(base)[0]);
}

py::object allocate(size_t nbytes) {
    const size_t capacity = Pool::round(nbytes + kHeader);
    char* base = static_cast<char*>(pool().get(capacity));
    reinterpret_cast<size_t*>(base)[0] = capacity;
    reinterpret_cast<size_t*>(base)[1] = nbytes;
    PyObject* cap = PyCapsule_New(base + kHeader, kCapsule, &free_capsule);
    if (!cap) {
        pool().put(base, capacity);
        throw py::error_already_set();
    }
    return py::reinterpret_steal<py::object>(cap);
}

inline char* data_of(py::handle memory) {
    void* p = PyCapsule_GetPointer(memory.ptr(), kCapsule);
    if (!p) throw py::error_already_set();  // not a cpu buffer: a TypeError-like ValueError from CPython
    return static_cast<char*>(p);
}

inline size_t size_of(py::handle memory) { return reinterpret_cast<size_t*>(data_of(memory) - kHeader)[1]; }

using Memory = py::handle;

inline char* at(Memory m, int64_t offset, int dtype) { return data_of(m) + offset * ts::kItemsize[dtype]; }

template <int N>
Dims<N> dims(const Shape& shape, std::initializer_list<const Shape*> strides, std::initializer_list<int> dtypes) {
    const Shape* st[N];
    int item[N];
    int k = 0;
    for (auto s : strides) st[k++] = s;
    k = 0;
    for (auto dt : dtypes) item[k++] = ts::kItemsize[dt];
    for (int i = 0; i < N; ++i)
        if (st[i]->size() != shape.size()) throw std::invalid_argument("strides and shape differ in length");
    return ts::make_dims<N>(shape, st, item);
}

template <int N>
Dims<N> flat(int64_t n, std::initializer_list<int> dtypes) {
    Dims<N> d;
    d.nd = 1;
    d.shape[0] = n;
    int k = 0;
    for (auto dt : dtypes) d.st[k++][0] = ts::kItemsize[dt];
    return d;
}

// Release the GIL only when the work is worth it: the release itself costs about 0.1 us.
struct MaybeRelease {
    PyThreadState* state = nullptr;
    explicit MaybeRelease(int64_t work) {
        if (work >= ts::kGrain) state = PyEval_SaveThread();
    }
    ~MaybeRelease() {
        if (state) PyEval_RestoreThread(state);
    }
};

constexpr int kNumUnary = sizeof(unary_table) / sizeof(unary_table[0]);
constexpr int kNumBinary = sizeof(binary_table) / sizeof(binary_table[0]);

ts::UnaryKernel unary_fn(int op, int dtype) {
    if (op < 0 || op >= kNumUnary || dtype < 0 || dtype > 8 || !unary_table[op][dtype])
        throw std::invalid_argument("no cpu kernel for this unary op and dtype");
    return unary_table[op][dtype];
}
ts::BinaryKernel binary_fn(int op, int dtype) {
    if (op < 0 || op >= kNumBinary || dtype < 0 || dtype > 8 || !binary_table[op][dtype])
        throw std::invalid_argument("no cpu kernel for this binary op and dtype");
    return binary_table[op][dtype];
}


// -- reductions ---------------------------------------------------------------------------------------------------

template <class T>
struct SumR {
    using Acc = ts::accum_t<T>;
    static Acc init() { return 0; }
    static void step(Acc& a, T v, int64_t) { a += static_cast<Acc>(static_cast<ts::compute_t<T>>(v)); }
    static void merge(Acc& a, const Acc& b) { a += b; }
};
template <class T>
struct ProdR {
    using Acc = ts::accum_t<T>;
    static Acc init() { return 1; }
    static void step(Acc& a, T v, int64_t) { a *= static_cast<Acc>(static_cast<ts::compute_t<T>>(v)); }
    static void merge(Acc& a, const Acc& b) { a *= b; }
};
template <class T>
struct MaxR {  // NaN wins and stays (NumPy's maximum.reduce)
    using Acc = ts::compute_t<T>;
    static Acc init() {
        return ts::is_float_v<T> ? -std::numeric_limits<Acc>::infinity() : std::numeric_limits<Acc>::lowest();
    }
    static void step(Acc& a, T x, int64_t) {
        const Acc v = static_cast<Acc>(x);
        if (a == a && (v > a || v != v)) a = v;
    }
    static void merge(Acc& a, const Acc& b) { step(a, static_cast<T>(b), 0); }
};
template <class T>
struct MinR {
    using Acc = ts::compute_t<T>;
    static Acc init() {
        return ts::is_float_v<T> ? std::numeric_limits<Acc>::infinity() : std::numeric_limits<Acc>::max();
    }
    static void step(Acc& a, T x, int64_t) {
        const Acc v = static_cast<Acc>(x);
        if (a == a && (v < a || v != v)) a = v;
    }
    static void merge(Acc& a, const Acc& b) { step(a, static_cast<T>(b), 0); }
};
template <class T, bool IsMax>
struct ArgR {  // first index of the extreme; the first NaN wins
    struct Acc {
        ts::compute_t<T> v;
        int64_t i;
    };
    static Acc init() { return {ts::compute_t<T>(0), -1}; }
    static void step(Acc& a, T x, int64_t i) {
        const ts::compute_t<T> v = static_cast<ts::compute_t<T>>(x);
        if (a.i < 0 || (a.v == a.v && (v != v || (IsMax ? v > a.v : v < a.v)))) a = {v, i};
    }
    static void merge(Acc& a, const Acc& b) {
        if (b.i >= 0 && (a.i < 0 || (a.v == a.v && (b.v != b.v || (IsMax ? b.v > a.v : b.v < a.v))))) a = b;
    }
};
template <class T>
struct AllR {
    using Acc = bool;
    static Acc init() { return true; }
    static void step(Acc& a, T v, int64_t) { a = a && (static_cast<ts::compute_t<T>>(v) != 0); }
    static void merge(Acc& a, const Acc& b) { a = a && b; }
};
template <class T>
struct AnyR {
    using Acc = bool;
    static Acc init() { return false; }
    static void step(Acc& a, T v, int64_t) { a = a || (static_cast<ts::compute_t<T>>(v) != 0); }
    static void merge(Acc& a, const Acc& b) { a = a || b; }
};

template <class R, class T>
typename R::Acc reduce_range(const Dims<1>& inner, char* base, int64_t begin, int64_t end) {
    typename R::Acc acc = R::init();
    char* b[1] = {base};
    ts::for_each_run<1>(inner, b, begin, end, [&](char** p, int64_t n, const int64_t* s) {
        // runs arrive in C order; ``begin`` counts the flat index of each element (argmax needs it)
        if constexpr (std::is_same<R, SumR<T>>::value) {
            if (s[0] == sizeof(T)) {
                const T* x = reinterpret_cast<const T*>(p[0]);
                if constexpr (std::is_same<T, float>::value) {
                    // 16 float lanes within blocks of 4096 (vectorises; each lane adds 256 values), then each
                    // block's total into the double accumulator: pairwise-like accuracy at memory speed
                    int64_t i = 0;
                    while (i < n) {
                        const int64_t end = std::min(n, i + 4096);
                        float part[16] = {};
                        for (; i + 16 <= end; i += 16)
                            for (int j = 0; j < 16; ++j) part[j] += x[i + j];
                        for (; i < end; ++i) part[0] += x[i];
                        double block = 0;
                        for (int j = 0; j < 16; ++j) block += part[j];
                        acc += block;
                    }
                } else {  // independent partial sums, so the adds pipeline
                    typename R::Acc part[8] = {0, 0, 0, 0, 0, 0, 0, 0};
                    int64_t i = 0;
                    for (; i + 8 <= n; i += 8)
                        for (int j = 0; j < 8; ++j) part[j] += static_cast<typename R::Acc>(x[i + j]);
                    for (; i < n; ++i) part[0] += static_cast<typename R::Acc>(x[i]);
                    for (int j = 0; j < 8; ++j) acc += part[j];
                }
                begin += n;
                return;
            }
        }
        for (int64_t i = 0; i < n; ++i) R::step(acc, *reinterpret_cast<const T*>(p[0] + i * s[0]), begin + i);
        begin += n;
    });
    return acc;
}

template <class Out, class Acc>
Out finish(const Acc& a) {
    if constexpr (std::is_class<Acc>::value) return static_cast<Out>(a.i);
    else return static_cast<Out>(a);
}

template <class R, class T, class Out>
void reduce_impl(char* x, const Shape& outer_shape, const Shape& outer_strides, const Shape& inner_shape,
                 const Shape& inner_strides, Out* out) {
    const Shape* ist[1] = {&inner_strides};
    const int isz[1] = {static_cast<int>(sizeof(T))};
    Dims<1> inner = ts::make_dims<1>(inner_shape, ist, isz);
    const int64_t n_inner = inner.numel();
    int64_t n_outer = 1;
    for (auto n : outer_shape) n_outer *= n;
    const int nd_outer = static_cast<int>(outer_shape.size());
    auto base_of = [&](int64_t o) {
        char* p = x;
        for (int d = nd_outer - 1; d >= 0; --d) {
            p += (o % outer_shape[d]) * outer_strides[d] * static_cast<int64_t>(sizeof(T));
            o /= outer_shape[d];
        }
        return p;
    };
    const int threads = ts::max_threads();
    if (n_outer >= threads || n_outer * n_inner < ts::kGrain) {
        const bool par = n_outer * n_inner >= ts::kGrain && n_outer > 1;
#pragma omp parallel for schedule(static) if (par)
        for (int64_t o = 0; o < n_outer; ++o)
            out[o] = finish<Out>(reduce_range<R, T>(inner, base_of(o), 0, n_inner));
    } else {  // few outputs, long reductions: split each reduction across threads, then merge in order
        for (int64_t o = 0; o < n_outer; ++o) {
            std::vector<typename R::Acc> parts(threads, R::init());
            char* b = base_of(o);
            const int64_t chunk = (n_inner + threads - 1) / threads;
#pragma omp parallel for schedule(static, 1) num_threads(threads)
            for (int t = 0; t < threads; ++t)
                parts[t] = reduce_range<R, T>(inner, b, t * chunk, std::min(n_inner, (t + 1) * chunk));
            typename R::Acc acc = parts[0];
            for (int t = 1; t < threads; ++t) R::merge(acc, parts[t]);
            out[o] = finish<Out>(acc);
        }
    }
}

template <class T>
void reduce_typed(const std::string& op, char* x, const Shape& os, const Shape& ost, const Shape& is,
                  const Shape& ist, char* out) {
    using SumOut = std::conditional_t<ts::is_float_v<T>, T, int64_t>;
    if (op == "sum") return reduce_impl<SumR<T>, T>(x, os, ost, is, ist, reinterpret_cast<SumOut*>(out));
    if (op == "prod") return reduce_impl<ProdR<T>, T>(x, os, ost, is, ist, reinterpret_cast<SumOut*>(out));
    if (op == "all") return reduce_impl<AllR<T>, T>(x, os, ost, is, ist, reinterpret_cast<bool*>(out));
    if (op == "any") return reduce_impl<AnyR<T>, T>(x, os, ost, is, ist, reinterpret_cast<bool*>(out));
    if constexpr (!std::is_same<T, bool>::value) {
        if (op == "max") return reduce_impl<MaxR<T>, T>(x, os, ost, is, ist, reinterpret_cast<T*>(out));
        if (op == "min") return reduce_impl<MinR<T>, T>(x, os, ost, is, ist, reinterpret_cast<T*>(out));
        if (op == "argmax")
            return reduce_impl<ArgR<T, true>, T>(x, os, ost, is, ist, reinterpret_cast<int64_t*>(out));
        if (op == "argmin")
            return reduce_impl<ArgR<T, false>, T>(x, os, ost, is, ist, reinterpret_cast<int64_t*>(out));
    }
    throw std::invalid_argument("no cpu reduction " + op + " for this dtype");
}

// -- matmul: a real BLAS for float32/float64 when one was handed to us, our own loop otherwise ------------------

using gemm_f = void (*)(int, int, int, int, int, int, float, const float*, int, const float*, int, float, float*, int);
using gemm_d = void (*)(int, int, int, int, int, int, double, const double*, int, const double*, int, double, double*,
                        int);
gemm_f sgemm = nullptr;
gemm_d dgemm = nullptr;
constexpr int kRowMajor = 101, kNoTrans = 111, kTrans = 112;

template <class T>
bool blas_layout(int64_t rs, int64_t cs, int64_t rows, int64_t cols, int& trans, int& ld) {
    if (cs == 1 && (rs >= std::max<int64_t>(1, cols) || rows == 1)) {
        trans = kNoTrans;
        ld = static_cast<int>(std::max<int64_t>({rs, cols, 1}));
        return true;
    }
    if (rs == 1 && (cs >= std::max<int64_t>(1, rows) || cols == 1)) {
        trans = kTrans;
        ld = static_cast<int>(std::max<int64_t>({cs, rows, 1}));
        return true;
    }
    return false;
}

template <class T>
void matmul_loop(const T* a, int64_t ars, int64_t acs, const T* b, int64_t brs, int64_t bcs, T* c, int64_t M,
                 int64_t N, int64_t K) {
    using C = std::conditional_t<ts::is_float_v<T>, std::conditional_t<std::is_same<T, double>::value, double, float>,
                                 std::conditional_t<std::is_same<T, bool>::value, int, T>>;
    const bool par = M * N * K >= ts::kGrain && M > 1;
#pragma omp parallel for schedule(static) if (par)
    for (int64_t i = 0; i < M; ++i) {
        std::vector<C> acc(N, C(0));
        for (int64_t k = 0; k < K; ++k) {
            const C aik = static_cast<C>(static_cast<ts::compute_t<T>>(a[i * ars + k * acs]));
            const T* brow = b + k * brs;
            if (bcs == 1)
                for (int64_t j = 0; j < N; ++j) acc[j] += aik * static_cast<C>(static_cast<ts::compute_t<T>>(brow[j]));
            else
                for (int64_t j = 0; j < N; ++j)
                    acc[j] += aik * static_cast<C>(static_cast<ts::compute_t<T>>(brow[j * bcs]));
        }
        for (int64_t j = 0; j < N; ++j) c[i * N + j] = static_cast<T>(acc[j]);
    }
}

template <class T>
void matmul_typed(const Shape& batch, char* out, char* a, const Shape& abs, int64_t ars, int64_t acs, char* b,
                  const Shape& bbs, int64_t brs, int64_t bcs, int64_t M, int64_t N, int64_t K) {
    int64_t nb = 1;
    for (auto n : batch) nb *= n;
    const int nd = static_cast<int>(batch.size());
    for (int64_t bi = 0; bi < nb; ++bi) {
        int64_t rem = bi, aoff = 0, boff = 0;
        for (int d = nd - 1; d >= 0; --d) {
            const int64_t idx = rem % batch[d];
            rem /= batch[d];
            aoff += idx * abs[d];
            boff += idx * bbs[d];
        }
        const T* ap = reinterpret_cast<const T*>(a) + aoff;
        const T* bp = reinterpret_cast<const T*>(b) + boff;
        T* cp = reinterpret_cast<T*>(out) + bi * M * N;
        int ta, tb, lda, ldb;
        const bool blas_shape = M < (1ll << 31) && N < (1ll << 31) && K < (1ll << 31) &&
                                blas_layout<T>(ars, acs, M, K, ta, lda) && blas_layout<T>(brs, bcs, K, N, tb, ldb);
        if constexpr (std::is_same<T, float>::value) {
            if (sgemm && blas_shape) {
                sgemm(kRowMajor, ta, tb, int(M), int(N), int(K), 1.0f, ap, lda, bp, ldb, 0.0f, cp, int(N));
                continue;
            }
        }
        if constexpr (std::is_same<T, double>::value) {
            if (dgemm && blas_shape) {
                dgemm(kRowMajor, ta, tb, int(M), int(N), int(K), 1.0, ap, lda, bp, ldb, 0.0, cp, int(N));
                continue;
            }
        }
        matmul_loop<T>(ap, ars, acs, bp, brs, bcs, cp, M, N, K);
    }
}

// -- softmax along one axis of a contiguous tensor viewed as (outer, n, inner) --------------------------------------

// exp for float in plain arithmetic (Cephes' expf: a degree-6 polynomial on [-ln2/2, ln2/2] and a power of two
// built from bits), so that softmax's loops vectorise; libm's expf is a call per element.  Within 2 ulp of expf.
static inline float exp_vec(float x) {
    const float small = -87.3365447504019f;
    const float xc = std::min(std::max(x, small), 88.3762626647949f);
    const float t = xc * 1.44269504088896341f + 0.5f;
    int n = static_cast<int>(t);
    n -= t < static_cast<float>(n);  // floor(t), without a libm call
    const float fn = static_cast<float>(n);
    const float r = (xc - fn * 0.693359375f) + fn * 2.12194440e-4f;
    float p = 1.9875691500e-4f;
    p = p * r + 1.3981999507e-3f;
    p = p * r + 8.3334519073e-3f;
    p = p * r + 4.1665795894e-2f;
    p = p * r + 1.6666665459e-1f;
    p = p * r + 5.0000001201e-1f;
    p = p * r * r + r + 1.0f;
    const int32_t bits = (n + 127) << 23;
    float scale;
    std::memcpy(&scale, &bits, sizeof scale);
    return x < small ? 0.0f : p * scale;  // x is at most 0 in softmax (the max is subtracted first)
}

static inline float exp_c(float x) { return exp_vec(x); }
static inline double exp_c(double x) { return std::exp(x); }

// The max and a NaN flag in 16 independent lanes: a per-lane select vectorises, a scalar max reduction does not.
template <class C>
C row_max(const C* v, int64_t n, bool& nan) {
    C lane[16];
    int lane_nan[16] = {};
    for (int k = 0; k < 16; ++k) lane[k] = -std::numeric_limits<C>::infinity();
    int64_t j = 0;
    for (; j + 16 <= n; j += 16)
        for (int k = 0; k < 16; ++k) {
            const C x = v[j + k];
            lane[k] = x > lane[k] ? x : lane[k];
            lane_nan[k] |= x != x;
        }
    for (; j < n; ++j) {
        lane[0] = v[j] > lane[0] ? v[j] : lane[0];
        lane_nan[0] |= v[j] != v[j];
    }
    C mx = lane[0];
    nan = false;
    for (int k = 0; k < 16; ++k) {
        mx = lane[k] > mx ? lane[k] : mx;
        nan |= lane_nan[k] != 0;
    }
    return mx;
}

template <class C>
C row_sum(const C* v, int64_t n) {
    C part[16] = {};
    int64_t j = 0;
    for (; j + 16 <= n; j += 16)
        for (int k = 0; k < 16; ++k) part[k] += v[j + k];
    for (; j < n; ++j) part[0] += v[j];
    C sum = 0;
    for (int k = 0; k < 16; ++k) sum += part[k];
    return sum;
}

// One contiguous row of a float or double tensor: max, exp into the output, sum, scale; four vectorised passes.
template <class C>
void softmax_row(bool log, const C* x, C* y, int64_t n) {
    bool nan;
    C mx = row_max(x, n, nan);
    if (nan) mx = std::numeric_limits<C>::quiet_NaN();
    else if (mx == -std::numeric_limits<C>::infinity() || mx == std::numeric_limits<C>::infinity()) mx = 0;
    for (int64_t j = 0; j < n; ++j) y[j] = exp_c(x[j] - mx);
    const C sum = row_sum(y, n);
    if (log) {
        const C shift = mx + static_cast<C>(std::log(static_cast<double>(sum)));
        for (int64_t j = 0; j < n; ++j) y[j] = x[j] - shift;
    } else {
        const C inv = C(1) / sum;
        for (int64_t j = 0; j < n; ++j) y[j] *= inv;
    }
}

template <class T>
void softmax_typed(bool log, const T* x, T* out, int64_t outer, int64_t n, int64_t inner) {
    using C = std::conditional_t<std::is_same<T, double>::value, double, float>;
    const int64_t rows = outer * inner;
    const bool par = rows * n >= ts::kGrain && rows > 1;
#pragma omp parallel if (par)
    {
        std::vector<C> row(n), res(n);
#pragma omp for schedule(static)
        for (int64_t r = 0; r < rows; ++r) {
            const int64_t o = r / inner, i = r % inner;
            const T* xr = x + o * n * inner + i;
            T* yr = out + o * n * inner + i;
            if constexpr (std::is_same<T, C>::value) {
                if (inner == 1) {  // the common case: rows are contiguous, work on them in place
                    softmax_row<C>(log, xr, yr, n);
                    continue;
                }
            }
            for (int64_t j = 0; j < n; ++j) row[j] = static_cast<C>(xr[j * inner]);
            softmax_row<C>(log, row.data(), res.data(), n);
            for (int64_t j = 0; j < n; ++j) yr[j * inner] = static_cast<T>(res[j]);
        }
    }
}

// The two hottest entry points (every contiguous elementwise op) as METH_FASTCALL functions: pybind11's general
// argument machinery costs about 0.3 us for ten arguments, more than the whole loop over a small tensor.
bool int_args(PyObject* const* args, Py_ssize_t n, int64_t* out, const int* which, int count) {
    for (int i = 0; i < count; ++i) {
        if (which[i] >= n) return false;
        out[i] = PyLong_AsLongLong(args[which[i]]);
        if (out[i] == -1 && PyErr_Occurred()) return false;
    }
    return true;
}

template <int Arity>
PyObject* elementwise_contig(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    // (op, dtype, out dtype, n, out, out offset, x, x offset[, y, y offset])
    constexpr int kArgs = 6 + 2 * Arity;
    if (nargs != kArgs) {
        PyErr_SetString(PyExc_TypeError, Arity == 1 ? "unary_contig takes 8 arguments" : "binary_contig takes 10 "
                                                                                          "arguments");
        return nullptr;
    }
    const int which[] = {0, 1, 2, 3, 5, 7, 9};
    int64_t v[7];
    if (!int_args(args, nargs, v, which, 5 + Arity)) return nullptr;  // the four codes and one offset per operand
    const int op = static_cast<int>(v[0]), dt = static_cast<int>(v[1]), odt = static_cast<int>(v[2]);
    const int64_t n = v[3];
    if (dt < 0 || dt > 8 || odt < 0 || odt > 8) {
        PyErr_SetString(PyExc_ValueError, "bad dtype code");
        return nullptr;
    }
    try {
        char* out = data_of(args[4]) + v[4] * ts::kItemsize[odt];
        char* x = data_of(args[6]) + v[5] * ts::kItemsize[dt];
        if constexpr (Arity == 1) {
            auto fn = unary_fn(op, dt);
            char* p[2] = {out, x};
            MaybeRelease r(n);
            fn(flat<2>(n, {odt, dt}), p);
        } else {
            auto fn = binary_fn(op, dt);
            char* p[3] = {out, x, data_of(args[8]) + v[6] * ts::kItemsize[dt]};
            MaybeRelease r(n);
            fn(flat<3>(n, {odt, dt, dt}), p);
        }
    } catch (py::error_already_set& e) {
        e.restore();
        return nullptr;
    } catch (const std::exception& e) {
        PyErr_SetString(PyExc_ValueError, e.what());
        return nullptr;
    }
    Py_RETURN_NONE;
}

PyObject* allocate_fast(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    // (nbytes, index): the Backend.allocate signature
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "allocate takes (nbytes, index)");
        return nullptr;
    }
    const long long n = PyLong_AsLongLong(args[0]);
    if (n < 0) {
        if (!PyErr_Occurred()) PyErr_SetString(PyExc_ValueError, "nbytes must be non-negative");
        return nullptr;
    }
    try {
        return allocate(static_cast<size_t>(n)).release().ptr();
    } catch (const std::bad_alloc&) {
        PyErr_NoMemory();
        return nullptr;
    }
}

PyMethodDef fast_methods[] = {
    {"unary_contig", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(&elementwise_contig<1>)),
     METH_FASTCALL, "unary_contig(op, dtype, out_dtype, n, out, out_offset, x, x_offset)"},
    {"binary_contig", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(&elementwise_contig<2>)),
     METH_FASTCALL, "binary_contig(op, dtype, out_dtype, n, out, out_offset, a, a_offset, b, b_offset)"},
    {"allocate", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(&allocate_fast)), METH_FASTCALL,
     "allocate(nbytes, index): a buffer from the pool (a capsule, freed when dropped)"},
    {nullptr, nullptr, 0, nullptr}};

py::list names(const char* const* table, int n) {
    py::list l;
    for (int i = 0; i < n; ++i) l.append(table[i]);
    return l;
}

}  // namespace

PYBIND11_MODULE(_cpu, m) {
    m.doc() = "tensorswitch's cpu kernels (see backends/cpu.py)";

    for (PyMethodDef* def = fast_methods; def->ml_name; ++def)
        m.add_object(def->ml_name, py::reinterpret_steal<py::object>(PyCFunction_New(def, nullptr)));
    m.def("address", [](Memory mem) { return reinterpret_cast<uintptr_t>(data_of(mem)); });
    m.def("size", [](Memory mem) { return size_of(mem); });
    m.def("empty_cache", [] { pool().release_all(); }, "Give the pool's cached blocks back to the OS.");
    m.def("cached_bytes", [] { return pool().cached; });
    m.def("max_threads", &ts::max_threads);

    m.def("copy_in", [](Memory mem, size_t offset, py::buffer host) {
        py::buffer_info info = host.request();
        const size_t n = static_cast<size_t>(info.size * info.itemsize);
        if (offset + n > size_of(mem)) throw std::out_of_range("copy_in: past the end of the buffer");
        MaybeRelease r(static_cast<int64_t>(n));
        std::memcpy(data_of(mem) + offset, info.ptr, n);
    });
    m.def("copy_out", [](Memory mem, size_t offset, py::buffer host) {
        py::buffer_info info = host.request(true);
        const size_t n = static_cast<size_t>(info.size * info.itemsize);
        if (offset + n > size_of(mem)) throw std::out_of_range("copy_out: past the end of the buffer");
        MaybeRelease r(static_cast<int64_t>(n));
        std::memcpy(info.ptr, data_of(mem) + offset, n);
    });
    m.def("copy_between", [](Memory dst, size_t doff, Memory src, size_t soff, size_t n) {
        if (doff + n > size_of(dst) || soff + n > size_of(src)) throw std::out_of_range("copy_between: out of range");
        MaybeRelease r(static_cast<int64_t>(n));
        std::memmove(data_of(dst) + doff, data_of(src) + soff, n);
    });

    m.attr("unary_ops") = names(unary_op_names, kNumUnary);
    m.attr("binary_ops") = names(binary_op_names, kNumBinary);

    // elementwise: the *_contig forms take an element count (every operand contiguous), the others shape+strides
    m.def("unary", [](int op, int dt, int odt, const Shape& shape, Memory o, int64_t oo, const Shape& os,
                      Memory x, int64_t xo, const Shape& xs) {
        auto fn = unary_fn(op, dt);
        auto d = dims<2>(shape, {&os, &xs}, {odt, dt});
        char* p[2] = {at(o, oo, odt), at(x, xo, dt)};
        MaybeRelease r(d.numel());
        fn(d, p);
    });
    m.def("binary_flat", [](int op, int dt, int odt, int64_t n, Memory o, int64_t oo, Memory a, int64_t ao,
                            int64_t as, Memory b, int64_t bo, int64_t bs) {
        auto fn = binary_fn(op, dt);
        auto d = flat<3>(n, {odt, dt, dt});
        d.st[1][0] *= as;  // 1: contiguous, 0: a broadcast scalar
        d.st[2][0] *= bs;
        char* p[3] = {at(o, oo, odt), at(a, ao, dt), at(b, bo, dt)};
        MaybeRelease r(n);
        fn(d, p);
    });
    m.def("binary", [](int op, int dt, int odt, const Shape& shape, Memory o, int64_t oo, const Shape& os,
                       Memory a, int64_t ao, const Shape& as, Memory b, int64_t bo, const Shape& bs) {
        auto fn = binary_fn(op, dt);
        auto d = dims<3>(shape, {&os, &as, &bs}, {odt, dt, dt});
        char* p[3] = {at(o, oo, odt), at(a, ao, dt), at(b, bo, dt)};
        MaybeRelease r(d.numel());
        fn(d, p);
    });
    m.def("where", [](int dt, const Shape& shape, Memory o, int64_t oo, const Shape& os, Memory c, int64_t co,
                      const Shape& cs, Memory a, int64_t ao, const Shape& as, Memory b, int64_t bo,
                      const Shape& bs) {
        auto d = dims<4>(shape, {&os, &cs, &as, &bs}, {dt, 0, dt, dt});
        char* p[4] = {at(o, oo, dt), at(c, co, 0), at(a, ao, dt), at(b, bo, dt)};
        MaybeRelease r(d.numel());
        TS_DISPATCH(dt, ts::where_kernel<T>(d, p));
    });
    m.def("astype", [](int sdt, int ddt, const Shape& shape, Memory o, int64_t oo, const Shape& os, Memory x,
                       int64_t xo, const Shape& xs) {
        auto d = dims<2>(shape, {&os, &xs}, {ddt, sdt});
        char* p[2] = {at(o, oo, ddt), at(x, xo, sdt)};
        MaybeRelease r(d.numel());
        TS_DISPATCH(ddt, using D = T; TS_DISPATCH(sdt, ts::astype_kernel<D, T>(d, p)));
    });
    m.def("fill", [](int dt, const Shape& shape, Memory o, int64_t oo, const Shape& os, double fv, int64_t iv) {
        auto d = dims<1>(shape, {&os}, {dt});
        char* p[1] = {at(o, oo, dt)};
        MaybeRelease r(d.numel());
        TS_DISPATCH(dt, ts::fill_kernel<T>(d, p, ts::is_float_v<T> ? static_cast<T>(fv) : static_cast<T>(iv)));
    });
    m.def("arange", [](int dt, int64_t n, Memory o, int64_t oo, double fstart, double fstep, int64_t istart,
                       int64_t istep) {
        char* base = at(o, oo, dt);
        MaybeRelease r(n);
        TS_DISPATCH(dt, {
            T* out = reinterpret_cast<T*>(base);
            ts::parallel_chunks(n, [&](int64_t b, int64_t e) {
                for (int64_t i = b; i < e; ++i) {
                    if constexpr (ts::is_float_v<T>) out[i] = static_cast<T>(fstart + static_cast<double>(i) * fstep);
                    else out[i] = static_cast<T>(istart + i * istep);
                }
            });
        });
    });
    m.def("random", [](const std::string& kind, int dt, int64_t n, Memory o, int64_t oo, uint64_t seed,
                       uint64_t offset, int64_t low, int64_t high) {
        char* base = at(o, oo, dt);
        MaybeRelease r(n);
        const int k = kind == "rand" ? 0 : kind == "randn" ? 1 : 2;
        TS_DISPATCH(dt, {
            T* out = reinterpret_cast<T*>(base);
            const uint64_t range = static_cast<uint64_t>(high) - static_cast<uint64_t>(low);
            ts::parallel_chunks(n, [&](int64_t b, int64_t e) {
                for (int64_t i = b; i < e; ++i) {
                    const ts::Philox ph(seed, static_cast<uint64_t>(i), offset);
                    if constexpr (ts::is_float_v<T>) {
                        out[i] = k == 0 ? ts::uniform<T>(ph) : ts::normal<T>(ph);
                    } else {
                        const uint64_t bits = (static_cast<uint64_t>(ph.x[1]) << 32) | ph.x[0];
                        out[i] = static_cast<T>(static_cast<uint64_t>(low) + bits % range);
                    }
                }
            });
        });
    });
    m.def("reduce", [](const std::string& op, int dt, Memory x, int64_t xo, const Shape& os, const Shape& ost,
                       const Shape& is, const Shape& ist, Memory out, int64_t oo, int odt) {
        int64_t work = 1;
        for (auto n : os) work *= n;
        for (auto n : is) work *= n;
        char* xp = at(x, xo, dt);
        char* op_ = at(out, oo, odt);
        MaybeRelease r(work);
        TS_DISPATCH(dt, reduce_typed<T>(op, xp, os, ost, is, ist, op_));
    });
    m.def("matmul", [](int dt, const Shape& batch, Memory o, int64_t oo, Memory a, int64_t ao, const Shape& abs,
                       int64_t ars, int64_t acs, Memory b, int64_t bo, const Shape& bbs, int64_t brs, int64_t bcs,
                       int64_t M, int64_t N, int64_t K) {
        char *op_ = at(o, oo, dt), *ap = at(a, ao, dt), *bp = at(b, bo, dt);
        MaybeRelease r(M * N * K);
        TS_DISPATCH(dt, matmul_typed<T>(batch, op_, ap, abs, ars, acs, bp, bbs, brs, bcs, M, N, K));
    });
    m.def("softmax", [](bool log, int dt, Memory x, int64_t xo, Memory o, int64_t oo, int64_t outer, int64_t n,
                        int64_t inner) {
        char *xp = at(x, xo, dt), *op_ = at(o, oo, dt);
        MaybeRelease r(outer * n * inner);
        switch (dt) {
            case 6: softmax_typed<ts::half>(log, reinterpret_cast<ts::half*>(xp), reinterpret_cast<ts::half*>(op_),
                                            outer, n, inner); break;
            case 7: softmax_typed<float>(log, reinterpret_cast<float*>(xp), reinterpret_cast<float*>(op_), outer, n,
                                         inner); break;
            case 8: softmax_typed<double>(log, reinterpret_cast<double*>(xp), reinterpret_cast<double*>(op_), outer,
                                          n, inner); break;
            default: throw std::invalid_argument("softmax needs a floating dtype");
        }
    });
    m.def("set_blas", [](uintptr_t s, uintptr_t d) {
        sgemm = reinterpret_cast<gemm_f>(s);
        dgemm = reinterpret_cast<gemm_d>(d);
    }, "Hand over cblas_sgemm and cblas_dgemm (addresses; 0 to use our own loops).");
    m.def("has_blas", [] { return sgemm != nullptr; });
}
