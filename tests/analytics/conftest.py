"""One Spark session (local mode, no web UI, few shuffle partitions) for every test that
needs it in a test process: starting the JVM costs seconds, a query a fraction of one."""
import pytest


@pytest.fixture(scope="session")
def spark():
    from core.analytics.engines import spark_session

    session = spark_session(cores=1, shuffle_partitions=2, memory="768m", app="sohoa-tests")
    session.sparkContext.setLogLevel("ERROR")
    yield session
    session.stop()


@pytest.fixture(scope="session")
def spark_engine(spark):
    from core.analytics.engines import SparkEngine

    return SparkEngine(spark)
