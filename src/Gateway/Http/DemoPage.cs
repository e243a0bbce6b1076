namespace Gateway.Http;

/// <summary><c>GET /demo</c>: a page that talks to <c>/ws</c> from the browser, embedded in the binary so it needs no web root.</summary>
internal static class DemoPage
{
    private static readonly Lazy<string> s_html = new(() =>
    {
        using var stream = typeof(DemoPage).Assembly.GetManifestResourceStream("Gateway.Http.DemoPage.html")
            ?? throw new InvalidOperationException("The demo page is not embedded in the assembly.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    });

    public static void MapDemoPage(this IEndpointRouteBuilder routes) =>
        routes.MapGet("/demo", () => Results.Content(s_html.Value, "text/html; charset=utf-8")).ExcludeFromDescription();
}
