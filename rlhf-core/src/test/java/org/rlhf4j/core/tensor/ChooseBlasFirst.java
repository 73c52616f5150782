package org.rlhf4j.core.tensor;

import org.junit.platform.launcher.LauncherSession;
import org.junit.platform.launcher.LauncherSessionListener;

/**
 * Runs {@link CpuBackend#configure()} when the test JVM's JUnit session opens, before any test
 * touches ND4J (which loads the BLAS for good): the tests then run on the library an application
 * on this machine gets (MKL on an Intel CPU, with MKL on the test classpath), whatever their order.
 */
public final class ChooseBlasFirst implements LauncherSessionListener {
  @Override
  public void launcherSessionOpened(LauncherSession session) {
    CpuBackend.configure();
  }
}
