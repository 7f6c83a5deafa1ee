"""Models in and out of the flow through QONNX (the interchange format of FINN, hls4ml's
Brevitas front end and Brevitas itself): :mod:`.qonnx_export` writes a
:class:`~sustainml.nas.quantized.QuantizedModel` as a QONNX graph, :mod:`.qonnx_import` reads
one (ours, or a Brevitas export) back into the Topology IR and integer weights.

The scale convention both sides share (:mod:`.qonnx_scales`): every tensor value is an
integer times a power of two, ``v = v_int * 2**-frac``; the input has ``input_frac``, a compute
stage's weights ``w_frac``, its accumulator ``in_frac + w_frac`` and its output
``in_frac + w_frac - shift``; pooling keeps its input's frac.
"""
