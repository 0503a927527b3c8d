# shared unit test helpers
