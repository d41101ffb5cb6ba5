"""What the tests and benchmarks share: fabricated rows and sealed files
(``fabricate``, ``sealed_files``, which also reads a folder's rows back), the real
writer as unit tests build it (``writers``), the offload tests' helpers
(``offload_helpers``) and the shapes of the real recorded responses
(``real_shapes``)."""
