package picfind;

import java.io.IOException;
import java.net.ServerSocket;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;

import org.elasticsearch.Build;
import org.elasticsearch.client.internal.node.NodeClient;
import org.elasticsearch.cluster.ClusterState;
import org.elasticsearch.cluster.service.ClusterService;
import org.elasticsearch.common.logging.LogConfigurator;
import org.elasticsearch.common.settings.Settings;
import org.elasticsearch.env.Environment;
import org.elasticsearch.node.InternalSettingsPreparer;
import org.elasticsearch.node.Node;
import org.elasticsearch.plugins.PluginsLoader;
import org.elasticsearch.rest.RestChannel;
import org.elasticsearch.rest.RestController;
import org.elasticsearch.rest.RestHandler;
import org.elasticsearch.rest.RestRequest;
import org.elasticsearch.rest.RestResponse;
import org.elasticsearch.rest.RestStatus;
import org.elasticsearch.xcontent.XContentBuilder;
import org.elasticsearch.xcontent.XContentFactory;

/**
 * One local Elasticsearch node for picfind's tests: the server from Maven Central
 * on the module path, its transport-netty4 module (HTTP) loaded from
 * {@code --home}/modules like a distribution loads it, a free local port, and a
 * line {@code PICFIND_URL=http://...} on standard output once the node is up.
 *
 * <p>The server is started directly ({@code new Node(...)}), not through its
 * bootstrap, which refuses to run as root (CI runs as root) and expects the
 * distribution's launcher. Maven Central has no rest-root module, so this class
 * answers {@code GET /} and {@code HEAD /} itself with the fields rest-root
 * answers them with (name, cluster name and uuid, {@code version.number} and the
 * build, tagline), read from the running server.
 *
 * <p>Arguments: {@code --home DIR} (read-only: modules), {@code --base DIR}
 * (data and logs), {@code --url-file FILE} (the URL written there too).
 */
public final class EsNode {
    private EsNode() {
    }

    public static void main(final String[] args) throws Exception {
        String home = null;
        String base = null;
        String urlFile = null;
        for (int i = 0; i < args.length; i++) {
            switch (args[i]) {
                case "--home" -> home = args[++i];
                case "--base" -> base = args[++i];
                case "--url-file" -> urlFile = args[++i];
                default -> throw new IllegalArgumentException("unknown argument " + args[i]);
            }
        }
        if (home == null || base == null) {
            throw new IllegalArgumentException("--home and --base are required");
        }
        Files.createDirectories(Path.of(home, "config"));
        Files.createDirectories(Path.of(home, "plugins"));
        final int http = freePort();
        final Settings settings = Settings.builder()
            .put("path.home", home)
            .put("path.data", Path.of(base, "data").toString())
            .put("path.logs", Path.of(base, "logs").toString())
            .put("cluster.name", "picfind")
            .put("node.name", "node-1")
            .put("http.port", http)
            .put("transport.port", freePort())
            .put("network.host", "127.0.0.1")
            .put("discovery.type", "single-node")
            .put("cluster.routing.allocation.disk.threshold_enabled", false)
            .put("action.auto_create_index", false)
            .build();
        LogConfigurator.configureESLogging();
        LogConfigurator.setNodeName("node-1");
        LogConfigurator.configureWithoutConfig(settings);
        final Environment env = InternalSettingsPreparer.prepareEnvironment(
            settings, Map.of(), Path.of(home, "config"), () -> "node-1");
        final PluginsLoader plugins = PluginsLoader.createPluginsLoader(
            PluginsLoader.loadModulesBundles(env.modulesDir()),
            PluginsLoader.loadPluginsBundles(env.pluginsDir()),
            Map.of());
        final Node node = new Node(env, plugins);
        node.start();
        final ClusterService cluster = node.injector().getInstance(ClusterService.class);
        node.injector().getInstance(RestController.class).registerHandler(new Root(cluster));
        Runtime.getRuntime().addShutdownHook(new Thread(() -> {
            try {
                node.close();
            } catch (IOException e) {
                // exiting anyway
            }
        }));
        final String url = "http://127.0.0.1:" + http;
        if (urlFile != null) {
            Files.writeString(Path.of(urlFile), url + "\n", StandardCharsets.UTF_8);
        }
        System.out.println("PICFIND_URL=" + url);
        System.out.flush();
        Thread.currentThread().join();
    }

    /** {@code GET /} and {@code HEAD /}, as the rest-root module answers them. */
    private static final class Root implements RestHandler {
        private final ClusterService cluster;

        Root(final ClusterService cluster) {
            this.cluster = cluster;
        }

        @Override
        public List<Route> routes() {
            return List.of(new Route(RestRequest.Method.GET, "/"), new Route(RestRequest.Method.HEAD, "/"));
        }

        @Override
        public void handleRequest(final RestRequest request, final RestChannel channel, final NodeClient client)
            throws Exception {
            final Build build = Build.current();
            final ClusterState state = cluster.state();
            final XContentBuilder body = XContentFactory.jsonBuilder();
            body.startObject()
                .field("name", cluster.getNodeName())
                .field("cluster_name", state.getClusterName().value())
                .field("cluster_uuid", state.metadata().clusterUUID())
                .startObject("version")
                .field("number", build.qualifiedVersion())
                .field("build_flavor", build.flavor())
                .field("build_type", build.type().displayName())
                .field("build_hash", build.hash())
                .field("build_date", build.date())
                .field("build_snapshot", build.isSnapshot())
                .field("lucene_version", org.apache.lucene.util.Version.LATEST.toString())
                .field("minimum_wire_compatibility_version", build.minWireCompatVersion())
                .field("minimum_index_compatibility_version", build.minIndexCompatVersion())
                .endObject()
                .field("tagline", "You Know, for Search")
                .endObject();
            channel.sendResponse(new RestResponse(RestStatus.OK, body));
        }
    }

    private static int freePort() throws IOException {
        try (ServerSocket socket = new ServerSocket(0)) {
            return socket.getLocalPort();
        }
    }
}
