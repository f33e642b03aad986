package picfind;

import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;

import org.codelibs.opensearch.runner.OpenSearchRunner;

/**
 * A local OpenSearch cluster for picfind's tests and benchmark: N nodes in one JVM
 * (the codelibs runner puts the modules on the classpath), the k-NN plugin loaded
 * from its jars, free local ports, and a line {@code PICFIND_URL=http://...} on
 * standard output once the cluster is at least yellow.
 *
 * <p>Arguments: {@code --nodes N} (default 1), {@code --base DIR} (data folder),
 * {@code --url-file FILE} (the URL written there too), {@code --control} (read
 * {@code stop I} / {@code quit} lines from standard input: the fault tests stop
 * one node of a two-node cluster this way), {@code --cluster-name NAME} (default
 * picfind; keep it to restart a node on its data). Node 1 is the only
 * cluster-manager-eligible node; the others are data nodes.
 */
public final class Node {
    private Node() {
    }

    public static void main(final String[] args) throws Exception {
        int nodes = 1;
        String base = null;
        String urlFile = null;
        boolean control = false;
        String clusterName = "picfind";
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--nodes" -> nodes = Integer.parseInt(args[++i]);
                case "--base" -> base = args[++i];
                case "--url-file" -> urlFile = args[++i];
                case "--control" -> control = true;
                case "--cluster-name" -> clusterName = args[++i];
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        if (base == null) {
            base = Files.createTempDirectory("picfind-opensearch").toString();
        }
        final int n = nodes;
        final int[] http = new int[n];
        final int[] transport = new int[n];
        for (int i = 0; i < n; i++) {
            http[i] = freePort();
            transport[i] = freePort();
        }
        final List<String> seeds = new ArrayList<>();
        final List<String> names = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            seeds.add("127.0.0.1:" + transport[i]);
            names.add("Node " + (i + 1));
        }
        final OpenSearchRunner runner = new OpenSearchRunner();
        runner.onBuild((id, settings) -> {
            settings.put("http.port", String.valueOf(http[id - 1]));
            settings.put("transport.port", String.valueOf(transport[id - 1]));
            settings.put("network.host", "127.0.0.1");
            settings.put("cluster.routing.allocation.disk.threshold_enabled", "false");
            if (n == 1) {
                settings.put("discovery.type", "single-node");
            } else {
                settings.putList("discovery.seed_hosts", seeds);
                // Node 1 alone is cluster-manager-eligible: the others hold data and
                // can be stopped without losing the cluster manager.
                settings.putList("cluster.initial_cluster_manager_nodes", names.get(0));
                if (id > 1) {
                    settings.putList("node.roles", "data");
                }
            }
        });
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                runner.close();
            } catch (IOException e) {
                // exiting anyway
            }
        }));
        runner.build(OpenSearchRunner.newConfigs()
                .basePath(base)
                .numOfNode(n)
                .clusterName(clusterName)
                .pluginTypes("org.opensearch.knn.plugin.KNNPlugin")
                .disableESLogger());
        runner.ensureYellow();
        final String url = "http://127.0.0.1:" + http[0];
        final StringBuilder all = new StringBuilder(url);
        for (int i = 1; i < n; i++) {
            all.append(",http://127.0.0.1:").append(http[i]);
        }
        if (urlFile != null) {
            Files.writeString(Path.of(urlFile), all + "\n", StandardCharsets.UTF_8);
        }
        System.out.println("PICFIND_URL=" + all);
        System.out.flush();
        if (!control) {
            Thread.currentThread().join();
        }
        final BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            line = line.trim();
            if (line.startsWith("stop ")) {
                final int index = Integer.parseInt(line.substring(5).trim()) - 1;
                runner.getNode(index).close();
                System.out.println("stopped " + (index + 1));
                System.out.flush();
            } else if (line.equals("quit")) {
                break;
            }
        }
        runner.close();
        System.exit(0);
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
