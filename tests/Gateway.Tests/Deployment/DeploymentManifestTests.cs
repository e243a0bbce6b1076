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
    public void Compose_runs_two_gateways_built_from_the_Dockerfile_beside_prometheus_and_a_healthy_rabbitmq()
    {
        var services = Services();

        Assert.Equal(["gateway-1", "gateway-2", "prometheus", "rabbitmq"], services.Keys.Order(StringComparer.Ordinal));
        foreach (var name in s_gatewayServices)
        {
            var service = services[name];
            var context = Path.GetFullPath(Path.Combine(RepositoryPaths.Root, "deploy", Scalar(service, "build", "context")));
            Assert.True(File.Exists(Path.Combine(context, Scalar(service, "build", "dockerfile"))), $"{name} builds from a Dockerfile in {context}");
            Assert.Equal(RepositoryPaths.Root, context.TrimEnd(Path.DirectorySeparatorChar));
            Assert.Equal("gateway:latest", Scalar(service, "image"));
            Assert.Equal("service_healthy", Scalar(service, "depends_on", "rabbitmq", "condition"));
        }

        Assert.StartsWith("prom/prometheus", Scalar(services["prometheus"], "image"), StringComparison.Ordinal);
        var rabbitmq = services["rabbitmq"];
        Assert.StartsWith("rabbitmq:3-management", Scalar(rabbitmq, "image"), StringComparison.Ordinal);
        Assert.Equal(["CMD", "rabbitmq-diagnostics", "-q", "ping"], Sequence(rabbitmq, "healthcheck", "test").Select(AsString));
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
    public void Kustomization_applies_every_kubernetes_manifest_a_deployment_configmap_three_services_and_a_pdb()
    {
        var k8s = Path.Combine(RepositoryPaths.Root, "deploy", "k8s");
        var manifests = Directory.EnumerateFiles(k8s, "*.yaml").Select(Path.GetFileName).Where(file => file != "kustomization.yaml");
        Assert.Equal(manifests.Order(StringComparer.Ordinal), Sequence(Load("deploy/k8s/kustomization.yaml").Single(), "resources").Select(AsString).Order(StringComparer.Ordinal));

        var kinds = Kubernetes().Select(resource => $"{Scalar(resource, "kind")}/{Scalar(resource, "metadata", "name")}");
        Assert.Equal(["ConfigMap/gateway-config", "Deployment/gateway", "PodDisruptionBudget/gateway", "Service/gateway-http", "Service/gateway-tcp", "Service/gateway-udp"],
            kinds.Order(StringComparer.Ordinal));
        Assert.Equal("policy/v1", Scalar(Kind("PodDisruptionBudget"), "apiVersion"));
        Assert.Equal("1", Scalar(Kind("PodDisruptionBudget"), "spec", "minAvailable"));
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
        foreach (var service in Kubernetes().Where(resource => Scalar(resource, "kind") == "Service"))
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
        foreach (var service in Kubernetes().Where(resource => Scalar(resource, "kind") == "Service"))
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

    private static YamlNode Kind(string kind) => Assert.Single(Kubernetes(), resource => Scalar(resource, "kind") == kind);

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
