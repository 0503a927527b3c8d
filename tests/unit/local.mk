# shared unit test helpers
include tests/unit/plugins_net.mk
include tests/unit/config.mk
include tests/unit/plugins_db.mk
