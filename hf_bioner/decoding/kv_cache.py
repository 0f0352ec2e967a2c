"""The decoders' key-value cache: each step's keys and values written in place, not copied.

transformers' :class:`~transformers.DynamicCache` appends a step's keys and values with
``torch.cat``, which copies every layer's whole cache at every step: at 64 rows of ~150
tokens, about 165 MB per step for the bundled model, 9% of a tagging run's time on this
project's CPU. The layers here keep their keys and values at the front of a buffer with
:data:`SPARE_SLOTS` free slots after them and write new ones into those slots; ``keys`` and
``values`` are views of the filled part, so the model reads them as before.

The decoders also reshape the cache themselves (rows left out when they finish, caches of
rows read apart joined by left padding, a cast to the step dtype). A row slice of the layer's
own view (what :func:`~hf_bioner.decoding.allowed_tokens._compact` leaves) keeps writing into
the same buffer; any other tensor put in ``keys`` is copied into a new buffer at the next
step. A sliding-window layer whose rows would outgrow its window gives way to transformers'
own update, which drops what falls out of the window.
"""

from __future__ import annotations

from transformers.cache_utils import DynamicCache, DynamicLayer, DynamicSlidingWindowLayer

SPARE_SLOTS = 64  # free slots after a layer's keys: one buffer copy per this many steps


def append_in_place(layer, key_states, value_states):
    """Write ``key_states`` and ``value_states`` after the layer's own, into its buffer when
    ``layer.keys`` is still (a row slice of) the view of it and there is room, else into a new
    buffer with :data:`SPARE_SLOTS` free slots. Returns the layer's keys and values."""
    keys, values = layer.keys, layer.values
    used = keys.shape[-2] if keys.numel() else 0
    length = key_states.shape[-2]
    key_buffer, value_buffer = _own_buffers(layer, keys, used + length)
    if key_buffer is None:
        rows, heads, _, width = key_states.shape
        slots = used + length + SPARE_SLOTS
        key_buffer = key_states.new_empty((rows, heads, slots, width))
        value_buffer = value_states.new_empty((rows, heads, slots, value_states.shape[-1]))
        if used:
            key_buffer[:, :, :used] = keys
            value_buffer[:, :, :used] = values
    key_buffer[:, :, used : used + length] = key_states
    value_buffer[:, :, used : used + length] = value_states
    layer.buffers = (key_buffer, value_buffer)
    layer.keys = key_buffer[:, :, : used + length]
    layer.values = value_buffer[:, :, : used + length]
    return layer.keys, layer.values


def _own_buffers(layer, keys, needed: int):
    """The layer's buffers cut to the rows of ``keys``, when ``keys`` is a view of the front
    of its key buffer (same start, same strides, no more rows) and ``needed`` slots fit;
    else ``(None, None)``."""
    buffers = getattr(layer, "buffers", None)
    if buffers is None or not keys.numel():
        return None, None
    key_buffer, value_buffer = buffers
    own = (
        keys.data_ptr() == key_buffer.data_ptr()
        and keys.stride() == key_buffer.stride()
        and keys.shape[0] <= key_buffer.shape[0]
        and layer.values.data_ptr() == value_buffer.data_ptr()
        and layer.values.stride() == value_buffer.stride()
    )
    if not own or needed > key_buffer.shape[-2]:
        return None, None
    rows = keys.shape[0]
    return key_buffer[:rows], value_buffer[:rows]


class InPlaceLayer(DynamicLayer):
    """A full-attention layer of the cache that appends in place (module doc)."""

    buffers = None

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        return append_in_place(self, key_states, value_states)


class InPlaceSlidingWindowLayer(DynamicSlidingWindowLayer):
    """A sliding-window layer that appends in place while its rows fit in the window, and
    gives way to transformers' update once they would not (module doc)."""

    buffers = None

    def update(self, key_states, value_states, *args, **kwargs):
        if not self.is_initialized:
            self.lazy_initialization(key_states, value_states)
        used = self.keys.shape[-2] if self.keys.numel() else 0
        if self.record_past or used + key_states.shape[-2] > self.sliding_window - 1:
            self.buffers = None  # transformers' update from here on: free the buffer
            return super().update(key_states, value_states, *args, **kwargs)
        self.cumulative_length += key_states.shape[-2]
        return append_in_place(self, key_states, value_states)


IN_PLACE_LAYERS = {DynamicLayer: InPlaceLayer, DynamicSlidingWindowLayer: InPlaceSlidingWindowLayer}


def decoding_cache(config) -> DynamicCache:
    """A :class:`~transformers.DynamicCache` for ``config`` whose plain layers append in
    place (layers of other kinds, such as recurrent ones, are left as transformers made
    them)."""
    cache = DynamicCache(config=config)
    for n, layer in enumerate(cache.layers):
        kind = IN_PLACE_LAYERS.get(type(layer))
        if kind is InPlaceLayer:
            cache.layers[n] = InPlaceLayer()
        elif kind is InPlaceSlidingWindowLayer:
            cache.layers[n] = InPlaceSlidingWindowLayer(sliding_window=layer.sliding_window)
    return cache
