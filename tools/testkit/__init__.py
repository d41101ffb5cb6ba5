"""What the tests and benchmarks share: fabricated rows and sealed files
(``fabricate``, ``sealed_files``), the offload tests' helpers
(``offload_helpers``) and the shapes of the real recorded responses
(``real_shapes``)."""
