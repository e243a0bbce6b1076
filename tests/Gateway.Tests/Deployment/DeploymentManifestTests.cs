using System.Globalization;
using System.Text.RegularExpressions;
using Gateway.Tests.Infrastructure;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace Gateway.Tests.Deployment;

/// <summary>
/// There is no container engine or cluster here, so deploy/'s compose file, Prometheus configuration and Kubernetes
/// manifests are parsed as YAML and checked against what the gateway really listens on: the Dockerfile and the default
/// endpoints of appsettings.json.
/// </summary>
public sealed class DeploymentManifestTests
{
    private static readonly string[] s_gatewayServices = ["gateway-1", "gateway-2"];

    public static TheoryData<string> YamlFiles()
    {
        var deploy = Path.Combine(RepositoryPaths.Root, "deploy");
        var files = new TheoryData<string>();
        foreach (var file in Directory.EnumerateFiles(deploy, "*.*", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            if (file.EndsWith(".yml", StringComparison.Ordinal) || file.EndsWith(".yaml", StringComparison.Ordinal))
                files.Add(Path.GetRelativePath(RepositoryPaths.Root, file).Replace('\\', '/'));
        }

        return files;
    }

    [Theory]
    [MemberData(nameof(YamlFiles))]
    public void Every_deployment_file_is_valid_yaml(string file)
    {
        // Load throws on a syntax error and on a key repeated in one mapping, which kubectl and compose would reject
        // or resolve silently.
        Assert.NotEmpty(Load(file));
    }

    [Fact]
    public void Compose_runs_two_gateways_built_from_the_Dockerfile_beside_prometheus_and_a_healthy_nats()
    {
        var services = Services();

        Assert.Equal(["gateway-1", "gateway-2", "nats", "prometheus"], services.Keys.Order(StringComparer.Ordinal));
        foreach (var name in s_gatewayServices)
        {
            var service = services[name];
            var context = Path.GetFullPath(Path.Combine(RepositoryPaths.Root, "deploy", Scalar(service, "build", "context")));
            Assert.True(File.Exists(Path.Combine(context, Scalar(service, "build", "dockerfile"))), $"{name} builds from a Dockerfile in {context}");
            Assert.Equal(RepositoryPaths.Root, context.TrimEnd(Path.DirectorySeparatorChar));
            Assert.Equal("gateway:latest", Scalar(service, "image"));
            Assert.Equal("service_healthy", Scalar(service, "depends_on", "nats", "condition"));
        }

        Assert.StartsWith("prom/prometheus", Scalar(services["prometheus"], "image"), StringComparison.Ordinal);
        var nats = services["nats"];
        Assert.StartsWith("nats:", Scalar(nats, "image"), StringComparison.Ordinal);
        // The healthcheck asks the monitoring port the server is started with.
        var monitor = NatsMonitorPort(Sequence(nats, "command").Select(AsString).ToList());
        Assert.NotNull(monitor);
        Assert.Equal(["CMD", "wget", "-q", "--spider", $"http://localhost:{monitor}/healthz"], Sequence(nats, "healthcheck", "test").Select(AsString));
    }

    [Fact]
    public void Compose_gateways_share_the_nats_service_as_their_backplane()
    {
        var services = Services();
        var clientPort = NatsClientPort(Sequence(services["nats"], "command").Select(AsString).ToList());

        foreach (var name in s_gatewayServices)
        {
            var environment = Assert.IsType<YamlMappingNode>(Node(services[name], "environment"));
            Assert.Equal("Nats", Scalar(environment, "Gateway__Backplane__Kind"));
            // Both instances reach the same server, under its compose service name and on its client port.
            var url = new Uri(Assert.Single(BackplaneUrls(environment)));
            Assert.Equal("nats", url.Scheme);
            Assert.Equal("nats", url.Host);
            Assert.Equal(clientPort, url.Port);
            // Readiness keeps its default: a lost link leaves the instance ready, serving its own peers.
            Assert.False(TryNode(environment, out _, "Gateway__Backplane__RequiredForReadiness"), $"{name} sets RequiredForReadiness");
        }
    }

    [Fact]
    public void Compose_gateways_publish_every_default_port_on_host_ports_of_their_own()
    {
        var services = Services();
        var hostPorts = new List<string>();
        foreach (var (name, service) in services)
        {
            if (!TryNode(service, out var ports, "ports")) continue;
            var containerPorts = new List<string>();
            foreach (var entry in Assert.IsType<YamlSequenceNode>(ports).Select(AsString))
            {
                // Compose's short syntax: HOST:CONTAINER[/PROTOCOL], TCP when no protocol is given.
                var port = Regex.Match(entry, @"^(?<host>\d+):(?<container>\d+)(?:/(?<protocol>tcp|udp))?$");
                Assert.True(port.Success, $"{name}: '{entry}' is HOST:CONTAINER[/PROTOCOL]");
                var protocol = port.Groups["protocol"].Success ? port.Groups["protocol"].Value.ToUpperInvariant() : "TCP";
                containerPorts.Add($"{port.Groups["container"].Value}/{protocol}");
                hostPorts.Add($"{port.Groups["host"].Value}/{protocol}");
            }

            if (s_gatewayServices.Contains(name))
                Assert.Equal(DefaultPorts(), containerPorts.Order(StringComparer.Ordinal));
        }

        Assert.Equal(hostPorts.Distinct(), hostPorts);
    }

    [Fact]
    public void Compose_stop_grace_period_outlasts_the_gateways_drain_timeout()
    {
        foreach (var (name, service) in Services().Where(service => s_gatewayServices.Contains(service.Key)))
        {
            var drain = TimeSpan.Parse(Scalar(service, "environment", "Gateway__Shutdown__DrainTimeout"), CultureInfo.InvariantCulture);
            var grace = ComposeDuration(Scalar(service, "stop_grace_period"));
            Assert.True(grace > drain, $"{name}: docker stop waits {grace}, less than the drain timeout {drain}");
        }
    }

    [Fact]
    public void Prometheus_scrapes_both_compose_gateways_on_metrics()
    {
        // The compose service mounts this file where the image reads its configuration.
        var mounts = Sequence(Services()["prometheus"], "volumes").Select(AsString).ToList();
        Assert.Contains(mounts, mount => mount.StartsWith("./prometheus/prometheus.yml:/etc/prometheus/prometheus.yml", StringComparison.Ordinal));

        var prometheus = Load("deploy/prometheus/prometheus.yml").Single();
        var job = Assert.Single(Sequence(prometheus, "scrape_configs"), job => Scalar(job, "job_name") == "gateway");
        Assert.Equal("/metrics", Scalar(job, "metrics_path"));
        Assert.Equal("15s", Scalar(job, "scrape_interval"));
        var targets = Sequence(job, "static_configs").SelectMany(config => Sequence(config, "targets")).Select(AsString);
        Assert.Equal(s_gatewayServices.Select(service => $"{service}:{DefaultEndpoints.HttpPort}"), targets.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Kustomization_applies_every_kubernetes_manifest_the_gateways_resources_and_a_nats_cluster()
    {
        var k8s = Path.Combine(RepositoryPaths.Root, "deploy", "k8s");
        var manifests = Directory.EnumerateFiles(k8s, "*.yaml").Select(Path.GetFileName).Where(file => file != "kustomization.yaml");
        Assert.Equal(manifests.Order(StringComparer.Ordinal), Sequence(Load("deploy/k8s/kustomization.yaml").Single(), "resources").Select(AsString).Order(StringComparer.Ordinal));
        Assert.Contains("nats.yaml", manifests);

        var kinds = Kubernetes().Select(resource => $"{Scalar(resource, "kind")}/{Scalar(resource, "metadata", "name")}");
        Assert.Equal(
            [
                "ConfigMap/gateway-config", "Deployment/gateway", "PodDisruptionBudget/gateway", "PodDisruptionBudget/nats",
                "Service/gateway-http", "Service/gateway-tcp", "Service/gateway-udp", "Service/nats", "StatefulSet/nats",
            ],
            kinds.Order(StringComparer.Ordinal));
        Assert.Equal("policy/v1", Scalar(Kind("PodDisruptionBudget"), "apiVersion"));
        Assert.Equal("1", Scalar(Kind("PodDisruptionBudget"), "spec", "minAvailable"));
    }

    [Fact]
    public void Kubernetes_nats_runs_three_clustered_servers_that_route_to_every_pod_of_the_headless_service()
    {
        var nats = NatsStatefulSet();
        var replicas = int.Parse(Scalar(nats, "spec", "replicas"), CultureInfo.InvariantCulture);
        Assert.Equal(3, replicas);
        var service = NatsService();
        Assert.Equal(Scalar(service, "metadata", "name"), Scalar(nats, "spec", "serviceName"));
        // Headless, so each pod has a name of its own, resolvable before the servers are ready to route to each other.
        Assert.Equal("None", Scalar(service, "spec", "clusterIP"));
        Assert.Equal("true", Scalar(service, "spec", "publishNotReadyAddresses"));

        var pods = Labels(Node(nats, "spec", "template", "metadata", "labels"));
        foreach (var selector in new[] { Node(nats, "spec", "selector", "matchLabels"), Node(service, "spec", "selector"), Node(Kind("PodDisruptionBudget", "nats"), "spec", "selector", "matchLabels") })
        {
            foreach (var (key, value) in Labels(selector))
                Assert.True(pods.GetValueOrDefault(key) == value, $"{key}={value} selects none of the NATS pods (at {selector.Start})");
        }

        var container = NatsContainer();
        Assert.StartsWith("nats:", Scalar(container, "image"), StringComparison.Ordinal);
        var args = Sequence(container, "args").Select(AsString).ToList();
        Assert.Equal("gw", Argument(args, "--cluster_name"));
        var cluster = new Uri(Argument(args, "--cluster")!);
        var routes = Argument(args, "--routes")!.Split(',').Select(route => new Uri(route.Trim()));
        Assert.Equal(
            Enumerable.Range(0, replicas).Select(index => $"nats://{NatsPodHost(index)}:{cluster.Port}"),
            routes.Select(route => $"{route.Scheme}://{route.Host}:{route.Port}"));

        // The container declares each port the server listens on, and the Service exposes them.
        var declared = NatsContainerPorts();
        var monitor = NatsMonitorPort(args);
        Assert.Equal(NatsClientPort(args), declared["client"]);
        Assert.Equal(cluster.Port, declared["cluster"]);
        Assert.Equal(monitor, declared["monitor"]);
        foreach (var port in Sequence(service, "spec", "ports"))
            Assert.Equal(declared[Scalar(port, "targetPort")].ToString(CultureInfo.InvariantCulture), Scalar(port, "port"));
        foreach (var probe in new[] { "livenessProbe", "readinessProbe" })
        {
            Assert.Equal("/healthz", Scalar(container, probe, "httpGet", "path"));
            Assert.Equal("monitor", Scalar(container, probe, "httpGet", "port"));
        }
    }

    [Fact]
    public void Kubernetes_gateways_share_a_nats_backplane_seeded_with_the_pods_of_the_nats_statefulset()
    {
        var configMap = Kind("ConfigMap");
        var data = Assert.IsType<YamlMappingNode>(Node(configMap, "data"));
        Assert.Equal("Nats", Scalar(data, "Gateway__Backplane__Kind"));
        Assert.False(TryNode(data, out _, "Gateway__Backplane__RequiredForReadiness"), "the ConfigMap sets RequiredForReadiness");

        var replicas = int.Parse(Scalar(NatsStatefulSet(), "spec", "replicas"), CultureInfo.InvariantCulture);
        var clientPort = NatsClientPort(Sequence(NatsContainer(), "args").Select(AsString).ToList());
        var pods = Enumerable.Range(0, replicas).Select(NatsPodHost).ToList();
        var hosts = new List<string>();
        foreach (var value in BackplaneUrls(data))
        {
            var url = new Uri(value);
            Assert.Equal("nats", url.Scheme);
            Assert.Equal(clientPort, url.Port);
            // A pod of the StatefulSet, or the Service, which resolves to all of them.
            Assert.True(pods.Contains(url.Host) || url.Host == Scalar(NatsService(), "metadata", "name"), $"{value} names neither a NATS pod nor the NATS Service");
            hosts.Add(url.Host);
        }

        // Every server is a seed, so the gateways can start while any one of them is down.
        Assert.Equal(pods, hosts);
    }

    [Fact]
    public void Kubernetes_deployment_declares_every_default_endpoint_port_under_its_endpoints_name()
    {
        var declared = ContainerPorts().ToDictionary(port => port.Name);

        Assert.Equal("2", Scalar(Kind("Deployment"), "spec", "replicas"));
        Assert.Equal(DefaultPorts(), declared.Values.Select(port => port.Key).Order(StringComparer.Ordinal));
        Assert.Equal($"{DefaultEndpoints.HttpPort}/TCP", declared["http"].Key);
        foreach (var endpoint in DefaultEndpoints.All.Where(endpoint => endpoint.Port is not null))
            Assert.Equal($"{endpoint.Port}/{endpoint.Protocol.ToUpperInvariant()}", declared[endpoint.Name].Key);
    }

    [Fact]
    public void Dockerfile_exposes_the_ports_the_deployment_declares()
    {
        var dockerfile = File.ReadAllText(Path.Combine(RepositoryPaths.Root, "Dockerfile"));
        var expose = Regex.Matches(dockerfile, @"^EXPOSE (.+)$", RegexOptions.Multiline)
            .SelectMany(instruction => instruction.Groups[1].Value.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Select(port => port.Contains('/') ? port.ToUpperInvariant() : port + "/TCP");

        Assert.Equal(ContainerPorts().Select(port => port.Key).Order(StringComparer.Ordinal), expose.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Kubernetes_services_cover_every_default_endpoint_port()
    {
        var containerPorts = ContainerPorts().ToList();
        var covered = new List<string>();
        foreach (var service in GatewayResources().Where(resource => Scalar(resource, "kind") == "Service"))
        {
            var name = Scalar(service, "metadata", "name");
            var protocols = new HashSet<string>();
            foreach (var port in Sequence(service, "spec", "ports"))
            {
                var protocol = TryNode(port, out var value, "protocol") ? AsString(value) : "TCP";
                protocols.Add(protocol);
                // The Service's port is the one clients know, so it stays the default; targetPort names the container's.
                var target = Scalar(port, "targetPort");
                var container = containerPorts.SingleOrDefault(candidate => candidate.Name == target || candidate.Number == target);
                Assert.True(container.Name is not null, $"{name}: targetPort {target} is no container port of the Deployment");
                Assert.Equal($"{Scalar(port, "port")}/{protocol}", container.Key);
                covered.Add(container.Key);
            }

            // Many load balancers cannot mix protocols on one address.
            Assert.True(protocols.Count == 1, $"{name} mixes {string.Join(" and ", protocols)}");
        }

        Assert.Equal(DefaultPorts(), covered.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Kubernetes_probes_ask_healthz_and_readyz_on_the_http_port()
    {
        var container = GatewayContainer();
        var http = Assert.Single(ContainerPorts(), port => port.Key == $"{DefaultEndpoints.HttpPort}/TCP");

        foreach (var (probe, path) in new[] { ("livenessProbe", "/healthz"), ("readinessProbe", "/readyz") })
        {
            Assert.Equal(path, Scalar(container, probe, "httpGet", "path"));
            Assert.Contains(Scalar(container, probe, "httpGet", "port"), new[] { http.Name, http.Number });
        }
    }

    [Fact]
    public void Kubernetes_service_and_pdb_selectors_match_the_deployments_pods()
    {
        var deployment = Kind("Deployment");
        var pods = Labels(Node(deployment, "spec", "template", "metadata", "labels"));
        Assert.Equal("gateway", pods["app.kubernetes.io/name"]);

        var selectors = new List<(string Owner, Dictionary<string, string> Labels)>
        {
            ("Deployment", Labels(Node(deployment, "spec", "selector", "matchLabels"))),
            ("PodDisruptionBudget", Labels(Node(Kind("PodDisruptionBudget"), "spec", "selector", "matchLabels"))),
        };
        foreach (var service in GatewayResources().Where(resource => Scalar(resource, "kind") == "Service"))
            selectors.Add((Scalar(service, "metadata", "name"), Labels(Node(service, "spec", "selector"))));

        foreach (var (owner, labels) in selectors)
        {
            Assert.NotEmpty(labels);
            foreach (var (key, value) in labels)
                Assert.True(pods.GetValueOrDefault(key) == value, $"{owner} selects {key}={value}, which the Deployment's pods do not carry");
        }
    }

    [Fact]
    public void Kubernetes_termination_grace_period_outlasts_the_configmaps_drain_timeout()
    {
        var configMap = Kind("ConfigMap");
        var pod = Node(Kind("Deployment"), "spec", "template", "spec");
        Assert.Contains(Scalar(configMap, "metadata", "name"), Sequence(GatewayContainer(), "envFrom").Select(source => Scalar(source, "configMapRef", "name")));

        var drain = TimeSpan.Parse(Scalar(configMap, "data", "Gateway__Shutdown__DrainTimeout"), CultureInfo.InvariantCulture);
        var grace = TimeSpan.FromSeconds(int.Parse(Scalar(pod, "terminationGracePeriodSeconds"), CultureInfo.InvariantCulture));
        Assert.True(grace > drain, $"the kubelet kills the pod after {grace}, before the drain timeout {drain}");
    }

    [Fact]
    public void Kubernetes_pods_run_as_the_images_non_root_user_with_the_unix_socket_folder_writable()
    {
        var pod = Node(Kind("Deployment"), "spec", "template", "spec");
        Assert.Equal("true", Scalar(pod, "securityContext", "runAsNonRoot"));
        // The aspnet image's APP_UID, which the Dockerfile's USER names.
        Assert.Equal("1654", Scalar(pod, "securityContext", "runAsUser"));

        var container = GatewayContainer();
        if (TryNode(container, out var readOnly, "securityContext", "readOnlyRootFilesystem") && AsString(readOnly) == "true")
        {
            var mounts = TryNode(container, out var volumeMounts, "volumeMounts")
                ? ((YamlSequenceNode)volumeMounts).Select(mount => Scalar(mount, "mountPath")).ToList()
                : [];
            foreach (var endpoint in DefaultEndpoints.All.Where(endpoint => endpoint.UnixSocketPath is not null))
            {
                var folder = Path.GetDirectoryName(endpoint.UnixSocketPath)!;
                Assert.True(mounts.Contains(folder), $"the root filesystem is read-only and {endpoint.Name}'s socket folder {folder} is not a mounted volume");
            }
        }
    }

    /// <summary>"PORT/PROTOCOL" of the HTTP host and of every default endpoint that listens on a port, in order.</summary>
    private static List<string> DefaultPorts() =>
    [
        .. DefaultEndpoints.All.Where(endpoint => endpoint.Port is not null)
            .Select(endpoint => $"{endpoint.Port}/{endpoint.Protocol.ToUpperInvariant()}")
            .Append($"{DefaultEndpoints.HttpPort}/TCP")
            .Order(StringComparer.Ordinal),
    ];

    private static Dictionary<string, YamlNode> Services() =>
        ((YamlMappingNode)Node(Load("deploy/docker-compose.yml").Single(), "services")).Children
            .ToDictionary(service => AsString(service.Key), service => service.Value);

    private static IEnumerable<YamlNode> Kubernetes() =>
        Sequence(Load("deploy/k8s/kustomization.yaml").Single(), "resources")
            .SelectMany(resource => Load("deploy/k8s/" + AsString(resource)));

    /// <summary>The resources of the gateway itself, labelled app.kubernetes.io/name: gateway; nats.yaml's carry "nats".</summary>
    private static IEnumerable<YamlNode> GatewayResources() =>
        Kubernetes().Where(resource => TryNode(resource, out var name, "metadata", "labels", "app.kubernetes.io/name") && AsString(name) == "gateway");

    /// <summary>The one gateway resource of a kind, or the resource of a kind and name.</summary>
    private static YamlNode Kind(string kind, string? name = null) =>
        name is null
            ? Assert.Single(GatewayResources(), resource => Scalar(resource, "kind") == kind)
            : Assert.Single(Kubernetes(), resource => Scalar(resource, "kind") == kind && Scalar(resource, "metadata", "name") == name);

    private static YamlNode NatsStatefulSet() => Kind("StatefulSet", "nats");

    /// <summary>The StatefulSet's governing Service, whose name the pods' names end in.</summary>
    private static YamlNode NatsService() => Kind("Service", Scalar(NatsStatefulSet(), "spec", "serviceName"));

    private static YamlNode NatsContainer() =>
        Assert.Single(Sequence(NatsStatefulSet(), "spec", "template", "spec", "containers"), container => Scalar(container, "name") == "nats");

    private static Dictionary<string, int> NatsContainerPorts() =>
        Sequence(NatsContainer(), "ports").ToDictionary(port => Scalar(port, "name"), port => int.Parse(Scalar(port, "containerPort"), CultureInfo.InvariantCulture));

    /// <summary>The DNS name of the StatefulSet's pod <paramref name="index"/>: POD.SERVICE, e.g. nats-0.nats.</summary>
    private static string NatsPodHost(int index) =>
        $"{Scalar(NatsStatefulSet(), "metadata", "name")}-{index}.{Scalar(NatsStatefulSet(), "spec", "serviceName")}";

    /// <summary>The value after a nats-server flag ("--flag value" or "--flag=value"), or null when it is not given.</summary>
    private static string? Argument(IReadOnlyList<string> args, params string[] flags)
    {
        for (var i = 0; i < args.Count; i++)
        {
            foreach (var flag in flags)
            {
                if (args[i] == flag && i + 1 < args.Count) return args[i + 1];
                if (args[i].StartsWith(flag + "=", StringComparison.Ordinal)) return args[i][(flag.Length + 1)..];
            }
        }

        return null;
    }

    /// <summary>nats-server's client port: -p or --port, 4222 by default.</summary>
    private static int NatsClientPort(IReadOnlyList<string> args) =>
        int.Parse(Argument(args, "-p", "--port") ?? "4222", CultureInfo.InvariantCulture);

    /// <summary>nats-server's monitoring port: -m or --http_port, off (null) by default.</summary>
    private static int? NatsMonitorPort(IReadOnlyList<string> args) =>
        Argument(args, "-m", "--http_port") is { } port ? int.Parse(port, CultureInfo.InvariantCulture) : null;

    /// <summary>Gateway__Backplane__Urls__0, __1, ... of an environment or a ConfigMap's data, in index order, with no gap.</summary>
    private static List<string> BackplaneUrls(YamlMappingNode settings)
    {
        const string prefix = "Gateway__Backplane__Urls__";
        var urls = settings.Children
            .Select(pair => (Key: AsString(pair.Key), Value: pair.Value))
            .Where(pair => pair.Key.StartsWith(prefix, StringComparison.Ordinal))
            .ToDictionary(pair => int.Parse(pair.Key[prefix.Length..], CultureInfo.InvariantCulture), pair => AsString(pair.Value));
        Assert.NotEmpty(urls);
        Assert.Equal(Enumerable.Range(0, urls.Count), urls.Keys.Order());
        return [.. Enumerable.Range(0, urls.Count).Select(index => urls[index])];
    }

    private static YamlNode GatewayContainer() =>
        Assert.Single(Sequence(Kind("Deployment"), "spec", "template", "spec", "containers"), container => Scalar(container, "name") == "gateway");

    private static IEnumerable<(string Name, string Number, string Key)> ContainerPorts() =>
        Sequence(GatewayContainer(), "ports").Select(port =>
        {
            var number = Scalar(port, "containerPort");
            // Kubernetes' default protocol is TCP.
            var protocol = TryNode(port, out var value, "protocol") ? AsString(value) : "TCP";
            return (Scalar(port, "name"), number, $"{number}/{protocol}");
        });

    /// <summary>Every document of a YAML file of the repository, with merge keys ("&lt;&lt;: *anchor") applied as compose applies them.</summary>
    private static List<YamlNode> Load(string file)
    {
        using var reader = new StreamReader(Path.Combine(RepositoryPaths.Root, file));
        var stream = new YamlStream();
        stream.Load(new MergingParser(new Parser(reader)));
        return [.. stream.Documents.Select(document => document.RootNode)];
    }

    private static bool TryNode(YamlNode node, out YamlNode found, params string[] path)
    {
        found = node;
        foreach (var key in path)
        {
            if (found is not YamlMappingNode mapping) return false;
            var child = mapping.Children.FirstOrDefault(pair => pair.Key is YamlScalarNode scalar && scalar.Value == key).Value;
            if (child is null) return false;
            found = child;
        }

        return true;
    }

    private static YamlNode Node(YamlNode node, params string[] path)
    {
        Assert.True(TryNode(node, out var found, path), $"{string.Join('.', path)} is missing (at {node.Start})");
        return found;
    }

    private static string Scalar(YamlNode node, params string[] path) => AsString(Node(node, path));

    private static YamlSequenceNode Sequence(YamlNode node, params string[] path) =>
        Assert.IsType<YamlSequenceNode>(Node(node, path));

    private static string AsString(YamlNode node) => Assert.IsType<YamlScalarNode>(node).Value!;

    private static Dictionary<string, string> Labels(YamlNode node) =>
        Assert.IsType<YamlMappingNode>(node).Children.ToDictionary(pair => AsString(pair.Key), pair => AsString(pair.Value));

    /// <summary>A compose duration such as "45s" or "1m30s".</summary>
    private static TimeSpan ComposeDuration(string value)
    {
        var parts = Regex.Match(value, @"^(?:(?<h>\d+)h)?(?:(?<m>\d+)m)?(?:(?<s>\d+)s)?$");
        Assert.True(parts.Success && value.Length > 0, $"'{value}' is a duration such as 45s or 1m30s");
        int Part(string unit) => parts.Groups[unit].Success ? int.Parse(parts.Groups[unit].Value, CultureInfo.InvariantCulture) : 0;
        return new TimeSpan(Part("h"), Part("m"), Part("s"));
    }
}
