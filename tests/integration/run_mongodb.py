"""run_mongodb.py: the One Stroke suite on the MongoDB store, when a server is given.

No MongoDB server is installable from the package registries this project's machines reach, so
the suite runs only with WXS_TEST_MONGODB_URI (e.g. mongodb://127.0.0.1:27017); otherwise it
says so and exits 77, which ctest reports as skipped.
"""
import os
import sys
import unittest

if not os.environ.get("WXS_TEST_MONGODB_URI"):
    print("SKIP: MongoDB tests need WXS_TEST_MONGODB_URI (no MongoDB server is installable "
          "from Debian or npm here)")
    sys.exit(77)
suite = unittest.defaultTestLoader.loadTestsFromName("test_paints.MongoPaints")
result = unittest.TextTestRunner(verbosity=2).run(suite)
sys.exit(0 if result.wasSuccessful() else 1)
