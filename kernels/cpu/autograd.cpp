// Note [Recording in C]
// ~~~~~~~~~~~~~~~~~~~~~
// autograd.track() runs once per recorded op: it reads each input's autograd slots, builds the node's edge and meta
// lists, saves what the formula reads and attaches the node to the output.  In Python that was about 0.9 us of an
// add-with-grad of 10 elements (2.3 us, PyTorch's whole call 1.7 us).  ``track_fast`` is the same work for the common
// case, with the slots read and written at their offsets (as CPython's own STORE_ATTR_SLOT does), so it costs about
// a tenth: an output allocated as a GradTensor for the op (track's made=True), inputs that are tensors or scalars.
// Whatever it does not handle it leaves untouched and answers NotImplemented, and dispatch/autograd.py's track()
// does the whole job: a view input whose base may have been written since (its node's ``base``), a derivative that
// saves its output.  The Python track() stays the definition: tests/test_autograd.py compares the two node for node.
//
// The types and slot offsets come from the Python classes once, through init_track(); nothing here knows their
// layout but what their member descriptors say.

#include <Python.h>
#include <structmember.h>

#include <cstddef>

namespace {

struct Offsets {
    // _RawTensor (a GradTensor's slots)
    Py_ssize_t requires_grad = -1, grad_fn = -1, output_nr = -1, acc = -1, shape = -1, dtype = -1, device = -1,
               buffer = -1, offset = -1, strides = -1, size = -1, is_contiguous = -1, grad = -1, hooks = -1;
    // Node
    Py_ssize_t name = -1, next_edges = -1, metas = -1, backward_fn = -1, ctx = -1, seq = -1, inputs = -1,
               needs = -1;
    // SavedTensor
    Py_ssize_t s_tensor = -1, s_entry = -1, s_version = -1, s_is_output = -1;
};

Offsets off;
PyTypeObject* grad_tensor_type = nullptr;  // GradTensor
PyTypeObject* tensor_type = nullptr;       // Tensor
PyTypeObject* node_type = nullptr;         // Node
PyTypeObject* saved_type = nullptr;        // SavedTensor
PyObject* accumulator = nullptr;           // autograd._accumulator(leaf)
PyObject* sequence = nullptr;              // autograd._sequence, an itertools.count: the nodes' creation order
PyObject* base_name = nullptr;             // "base"
PyObject* version_name = nullptr;          // "version"
PyObject* zero = nullptr;                  // 0
PyObject* self_ctx = nullptr;              // autograd.SELF: a node's ctx when it is its own (Note [Nodes without cycles])

inline PyObject* get_slot(PyObject* o, Py_ssize_t offset) {  // borrowed; NULL when unset
    return *reinterpret_cast<PyObject**>(reinterpret_cast<char*>(o) + offset);
}

inline void set_slot(PyObject* o, Py_ssize_t offset, PyObject* v) {  // steals nothing: v is increfed
    PyObject** p = reinterpret_cast<PyObject**>(reinterpret_cast<char*>(o) + offset);
    PyObject* old = *p;
    Py_INCREF(v);
    *p = v;
    Py_XDECREF(old);
}

inline void set_slot_steal(PyObject* o, Py_ssize_t offset, PyObject* v) {
    PyObject** p = reinterpret_cast<PyObject**>(reinterpret_cast<char*>(o) + offset);
    PyObject* old = *p;
    *p = v;
    Py_XDECREF(old);
}

bool slot_offset(PyTypeObject* type, const char* name, Py_ssize_t& out) {
    PyObject* descr = PyObject_GetAttrString(reinterpret_cast<PyObject*>(type), name);
    if (!descr) return false;
    const bool ok = Py_IS_TYPE(descr, &PyMemberDescr_Type) &&
                    reinterpret_cast<PyMemberDescrObject*>(descr)->d_member->type == T_OBJECT_EX;
    if (ok) out = reinterpret_cast<PyMemberDescrObject*>(descr)->d_member->offset;
    Py_DECREF(descr);
    if (!ok) PyErr_Format(PyExc_TypeError, "init_track: %s.%s is not a slot", type->tp_name, name);
    return ok;
}

// init_track(GradTensor, Tensor, Node, SavedTensor, _accumulator, _sequence, SELF)
PyObject* init_track(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "init_track takes 7 arguments");
        return nullptr;
    }
    for (int i = 0; i < 4; ++i)
        if (!PyType_Check(args[i])) {
            PyErr_SetString(PyExc_TypeError, "init_track: the first four arguments are classes");
            return nullptr;
        }
    if (!PyIter_Check(args[5])) {
        PyErr_SetString(PyExc_TypeError, "init_track: the last argument is the nodes' counter (an iterator)");
        return nullptr;
    }
    auto* gt = reinterpret_cast<PyTypeObject*>(args[0]);
    auto* nt = reinterpret_cast<PyTypeObject*>(args[2]);
    auto* st = reinterpret_cast<PyTypeObject*>(args[3]);
    Offsets o;
    if (!slot_offset(gt, "_requires_grad", o.requires_grad) || !slot_offset(gt, "_grad_fn", o.grad_fn) ||
        !slot_offset(gt, "_output_nr", o.output_nr) || !slot_offset(gt, "_acc", o.acc) ||
        !slot_offset(gt, "shape", o.shape) || !slot_offset(gt, "dtype", o.dtype) ||
        !slot_offset(gt, "device", o.device) || !slot_offset(gt, "buffer", o.buffer) ||
        !slot_offset(gt, "offset", o.offset) || !slot_offset(gt, "strides", o.strides) ||
        !slot_offset(gt, "size", o.size) || !slot_offset(gt, "is_contiguous", o.is_contiguous) ||
        !slot_offset(gt, "_grad", o.grad) || !slot_offset(gt, "_hooks", o.hooks) ||
        !slot_offset(nt, "name", o.name) || !slot_offset(nt, "next_edges", o.next_edges) ||
        !slot_offset(nt, "metas", o.metas) || !slot_offset(nt, "backward_fn", o.backward_fn) ||
        !slot_offset(nt, "ctx", o.ctx) || !slot_offset(nt, "seq", o.seq) || !slot_offset(nt, "inputs", o.inputs) ||
        !slot_offset(nt, "needs", o.needs) || !slot_offset(st, "tensor", o.s_tensor) ||
        !slot_offset(st, "entry", o.s_entry) || !slot_offset(st, "version", o.s_version) ||
        !slot_offset(st, "is_output", o.s_is_output))
        return nullptr;
    off = o;
    PyObject* keep[] = {args[0], args[1], args[2], args[3], args[4], args[5], args[6]};
    for (PyObject* k : keep) Py_INCREF(k);
    Py_XDECREF(grad_tensor_type);
    Py_XDECREF(tensor_type);
    Py_XDECREF(node_type);
    Py_XDECREF(saved_type);
    Py_XDECREF(accumulator);
    Py_XDECREF(sequence);
    Py_XDECREF(self_ctx);
    grad_tensor_type = gt;
    tensor_type = reinterpret_cast<PyTypeObject*>(args[1]);
    node_type = nt;
    saved_type = st;
    accumulator = args[4];
    sequence = args[5];
    self_ctx = args[6];
    if (!base_name) base_name = PyUnicode_InternFromString("base");
    if (!version_name) version_name = PyUnicode_InternFromString("version");
    if (!zero) zero = PyLong_FromLong(0);
    Py_RETURN_NONE;
}

constexpr int kMaxInputs = 8;

// track_fast(name, formula, out, inputs, saves): out a GradTensor made for the op; inputs a tuple of tensors and
// scalars; saves a tuple of (input position, needed-by positions or None) pairs, the derivative's save_inputs with
// save_for.  Returns out, tracked, or NotImplemented having changed nothing (see the Note).
}  // namespace

namespace ts {

// Whether init_track has given the classes and slot offsets (nothing here reads a slot before)
bool track_ready() { return node_type != nullptr && grad_tensor_type != nullptr && tensor_type != nullptr; }

// 1 when track_node would decline ``inputs`` (a view input, too many inputs: Python's track() does those), 0 when
// it takes them, -1 with an exception set
int track_declines(PyObject* inputs) {
    if (!node_type || !PyTuple_Check(inputs) || PyTuple_GET_SIZE(inputs) > kMaxInputs) return 1;
    for (Py_ssize_t i = 0; i < PyTuple_GET_SIZE(inputs); ++i) {
        PyObject* x = PyTuple_GET_ITEM(inputs, i);
        if (!PyObject_TypeCheck(x, grad_tensor_type) || get_slot(x, off.requires_grad) != Py_True) continue;
        PyObject* fn = get_slot(x, off.grad_fn);
        if (!fn || fn == Py_None) continue;
        PyObject* base = PyObject_GetAttr(fn, base_name);
        if (!base) return -1;
        const bool view = base != Py_None;
        Py_DECREF(base);
        if (view) return 1;
    }
    return 0;
}

// A new contiguous GradTensor that requires grad (``grad``) or Tensor, over ``buffer`` from element 0: what
// dispatcher._fresh makes.  New reference, or nullptr with an exception set.
PyObject* new_tensor(PyObject* buffer, PyObject* shape, PyObject* strides, PyObject* dtype, PyObject* device,
                           PyObject* size, bool grad) {
    if (!grad_tensor_type) {
        PyErr_SetString(PyExc_RuntimeError, "new_tensor before init_track");
        return nullptr;
    }
    PyTypeObject* type = grad ? grad_tensor_type : tensor_type;
    PyObject* t = type->tp_alloc(type, 0);
    if (!t) return nullptr;
    set_slot(t, off.buffer, buffer);
    set_slot(t, off.offset, zero);
    set_slot(t, off.shape, shape);
    set_slot(t, off.strides, strides);
    set_slot(t, off.dtype, dtype);
    set_slot(t, off.device, device);
    set_slot(t, off.size, size);
    set_slot(t, off.is_contiguous, Py_True);
    if (!grad) return t;  // a plain Tensor: the autograd slots stay unset, as dispatcher._fresh leaves them
    set_slot(t, off.requires_grad, Py_True);
    set_slot(t, off.grad_fn, Py_None);
    set_slot(t, off.hooks, Py_None);
    set_slot(t, off.acc, Py_None);
    set_slot(t, off.grad, Py_None);
    set_slot(t, off.output_nr, zero);
    return t;
}

// A tensor new_tensor made over another layout than C order (a permuted dense one): not is_contiguous
void mark_permuted(PyObject* t) { set_slot(t, off.is_contiguous, Py_False); }

// Whether ``t`` is a plain Tensor (not a GradTensor, not another subclass), and then its dtype and is_contiguous
// slots, borrowed (nullptr where unset): FastBinary's checks (Note [Binary ops in C] in module.cpp)
bool plain_tensor_meta(PyObject* t, PyObject** dtype, PyObject** is_contiguous) {
    if (Py_TYPE(t) != tensor_type) return false;
    *dtype = get_slot(t, off.dtype);
    *is_contiguous = get_slot(t, off.is_contiguous);
    return true;
}

// A tensor's layout slots, borrowed (nullptr where unset)
void tensor_layout(PyObject* t, PyObject** buffer, PyObject** offset, PyObject** shape, PyObject** strides,
                   PyObject** size, PyObject** device) {
    *buffer = get_slot(t, off.buffer);
    *offset = get_slot(t, off.offset);
    *shape = get_slot(t, off.shape);
    *strides = get_slot(t, off.strides);
    *size = get_slot(t, off.size);
    *device = get_slot(t, off.device);
}

// The node of ``out`` (a GradTensor made for the op) from ``inputs``: track_fast's work, for binary_grad too
PyObject* track_node(PyObject* name, PyObject* formula, PyObject* out, PyObject* inputs, PyObject* saves) {
    if (!PyTuple_Check(inputs) || !PyTuple_Check(saves) || !PyObject_TypeCheck(out, grad_tensor_type))
        Py_RETURN_NOTIMPLEMENTED;
    const Py_ssize_t n = PyTuple_GET_SIZE(inputs);
    if (n > kMaxInputs) Py_RETURN_NOTIMPLEMENTED;
    // first pass: what each input contributes, and whether anything needs the Python path
    PyObject* fns[kMaxInputs];  // borrowed: the input's grad_fn, or nullptr for a leaf / an untracked input
    bool tracked[kMaxInputs];
    bool any = false;
    for (Py_ssize_t i = 0; i < n; ++i) {
        PyObject* x = PyTuple_GET_ITEM(inputs, i);
        fns[i] = nullptr;
        tracked[i] = PyObject_TypeCheck(x, grad_tensor_type) && get_slot(x, off.requires_grad) == Py_True;
        if (!tracked[i]) continue;
        any = true;
        PyObject* fn = get_slot(x, off.grad_fn);
        if (fn && fn != Py_None) {
            PyObject* base = PyObject_GetAttr(fn, base_name);
            if (!base) return nullptr;
            const bool view = base != Py_None;
            Py_DECREF(base);
            if (view) Py_RETURN_NOTIMPLEMENTED;  // _refresh_view first: Python's track
            fns[i] = fn;
        }
    }
    if (!any) {
        Py_INCREF(out);
        return out;
    }
    PyObject* edges = PyList_New(n);
    PyObject* metas = PyList_New(n);
    PyObject* saved = nullptr;  // what the formula reads, below
    auto fail = [&]() -> PyObject* {  // every error from here on: drop what was built, keep the exception
        Py_XDECREF(edges);
        Py_XDECREF(metas);
        Py_XDECREF(saved);
        return nullptr;
    };
    if (!edges || !metas) return fail();
    for (Py_ssize_t i = 0; i < n; ++i) {
        if (!tracked[i]) {
            Py_INCREF(Py_None);
            PyList_SET_ITEM(edges, i, Py_None);
            Py_INCREF(Py_None);
            PyList_SET_ITEM(metas, i, Py_None);
            continue;
        }
        PyObject* x = PyTuple_GET_ITEM(inputs, i);
        PyObject* edge;
        if (fns[i]) {
            PyObject* nr = get_slot(x, off.output_nr);
            edge = PyTuple_Pack(2, fns[i], nr ? nr : zero);
        } else {  // a leaf: its accumulator, which it holds (Note [Nodes without cycles])
            PyObject* acc = get_slot(x, off.acc);  // then a new reference
            if (acc && acc != Py_None)
                Py_INCREF(acc);
            else
                acc = PyObject_CallOneArg(accumulator, x);
            if (!acc) return fail();
            edge = PyTuple_Pack(2, acc, zero);
            Py_DECREF(acc);
        }
        if (!edge) return fail();
        PyList_SET_ITEM(edges, i, edge);
        PyObject *shape = get_slot(x, off.shape), *dtype = get_slot(x, off.dtype), *device = get_slot(x, off.device);
        if (!shape || !dtype || !device) {
            PyErr_SetString(PyExc_AttributeError, "track_fast: a tensor without its layout");
            return fail();
        }
        PyObject* meta = PyTuple_Pack(3, shape, dtype, device);
        if (!meta) return fail();
        PyList_SET_ITEM(metas, i, meta);
    }
    // what the formula reads: Python's track() loop, as it is
    const Py_ssize_t ns = PyTuple_GET_SIZE(saves);
    if (ns) {
        saved = PyList_New(0);
        if (!saved) return fail();
        for (Py_ssize_t k = 0; k < ns; ++k) {
            PyObject* pair = PyTuple_GET_ITEM(saves, k);
            const Py_ssize_t i = PyLong_AsSsize_t(PyTuple_GET_ITEM(pair, 0));
            PyObject* needed_by = PyTuple_GET_ITEM(pair, 1);
            if (i < 0 || i >= n) {
                if (!PyErr_Occurred()) PyErr_SetString(PyExc_IndexError, "track_fast: a saved input out of range");
                return fail();
            }
            if (needed_by != Py_None) {
                bool needed = false;
                for (Py_ssize_t j = 0; j < PyTuple_GET_SIZE(needed_by); ++j) {
                    const Py_ssize_t w = PyLong_AsSsize_t(PyTuple_GET_ITEM(needed_by, j));
                    if (w >= 0 && w < n && tracked[w]) needed = true;
                }
                if (!needed) {  // nothing will read it (Derivative.save_for)
                    if (PyList_Append(saved, Py_None) < 0) return fail();
                    continue;
                }
            }
            PyObject* x = PyTuple_GET_ITEM(inputs, i);
            if (!PyObject_TypeCheck(x, tensor_type)) {
                if (PyList_Append(saved, x) < 0) return fail();
                continue;
            }
            PyObject* buffer = get_slot(x, off.buffer);
            PyObject* entry = buffer ? PyObject_GetAttr(buffer, version_name) : nullptr;
            PyObject* version = entry ? PySequence_GetItem(entry, 0) : nullptr;
            PyObject* s = version ? saved_type->tp_alloc(saved_type, 0) : nullptr;
            if (!s) {
                Py_XDECREF(entry);
                Py_XDECREF(version);
                return fail();
            }
            set_slot(s, off.s_tensor, x);
            set_slot_steal(s, off.s_entry, entry);
            set_slot_steal(s, off.s_version, version);
            set_slot(s, off.s_is_output, Py_False);
            const int r = PyList_Append(saved, s);
            Py_DECREF(s);
            if (r < 0) return fail();
        }
    }
    if (!saved) {  // nothing saved: None, as Python's track() leaves it
        saved = Py_None;
        Py_INCREF(saved);
    }
    PyObject* seq = Py_TYPE(sequence)->tp_iternext(sequence);  // next(_sequence), without a call
    PyObject* node = seq ? node_type->tp_alloc(node_type, 0) : nullptr;
    if (!node) {
        Py_XDECREF(seq);
        return fail();
    }
    set_slot(node, off.name, name);
    set_slot_steal(node, off.next_edges, edges);
    set_slot(node, off.metas, metas);
    set_slot_steal(node, off.needs, metas);  // metas doubles as needs (a meta where the input needs a gradient)
    set_slot(node, off.backward_fn, formula);
    set_slot(node, off.ctx, self_ctx);  // not node: no cycle (Note [Nodes without cycles])
    set_slot_steal(node, off.seq, seq);
    set_slot_steal(node, off.inputs, saved);
    set_slot_steal(out, off.grad_fn, node);  // out holds the node; the node does not hold out
    Py_INCREF(out);
    return out;
}

}  // namespace ts

namespace {

PyObject* track_fast(PyObject*, PyObject* const* args, Py_ssize_t nargs) {
    if (nargs != 5 || !node_type) {
        PyErr_SetString(PyExc_TypeError, "track_fast takes 5 arguments (after init_track)");
        return nullptr;
    }
    return ts::track_node(args[0], args[1], args[2], args[3], args[4]);
}

PyMethodDef autograd_methods[] = {
    {"init_track", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(&init_track)), METH_FASTCALL,
     "init_track(GradTensor, Tensor, Node, SavedTensor, _accumulator, _sequence, SELF): what track_fast fills"},
    {"track_fast", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)(void)>(&track_fast)), METH_FASTCALL,
     "track_fast(name, formula, out, inputs, saves): autograd.track for a made output (Note [Recording in C])"},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace

namespace ts {
// the methods above, for module.cpp to add to the module
PyMethodDef* autograd_method_table() { return autograd_methods; }
}  // namespace ts
