import com.marketo.mktows.*;
import java.net.URL;
import java.nio.charset.StandardCharsets;
import java.text.SimpleDateFormat;
import java.util.Date;
import javax.crypto.Mac;
import javax.crypto.spec.SecretKeySpec;
import javax.xml.namespace.QName;
import javax.xml.ws.BindingProvider;
import javax.xml.ws.soap.SOAPFaultException;

/**
 * A syncLead client shaped like Marketo's published Java sample, over classes that
 * wsimport -XadditionalHeaders generated from the sandbox's ?WSDL. The port is built
 * from the WSDL URL, so JAX-WS checks that every operation of the generated port type
 * is in the served WSDL.
 *
 * args: wsdlUrl email firstName [workspace]; env MKTOWS_USER_ID, MKTOWS_ENCRYPTION_KEY.
 * Prints "syncLead status=... leadId=..." then, for getTags (not implemented by the
 * sandbox), "getTags fault=...".
 */
public class SyncLead {
    public static void main(String[] args) throws Exception {
        String wsdl = args[0];
        String email = args[1];
        String firstName = args[2];
        String workspace = args.length > 3 ? args[3] : "default";
        String userId = System.getenv("MKTOWS_USER_ID");
        String key = System.getenv("MKTOWS_ENCRYPTION_KEY");

        QName serviceName = new QName("http://www.marketo.com/mktows/", "MktMktowsApiService");
        MktMktowsApiService service = new MktMktowsApiService(new URL(wsdl), serviceName);
        MktowsPort port = service.getMktowsApiSoapPort();
        String endpoint = (String) ((BindingProvider) port).getRequestContext()
            .get(BindingProvider.ENDPOINT_ADDRESS_PROPERTY);
        System.out.println("endpoint " + endpoint);

        // The sample's signature: HMAC-SHA1 of timestamp + user id, hex.
        String text = new SimpleDateFormat("yyyy-MM-dd'T'HH:mm:ssZ").format(new Date());
        String timestamp = text.substring(0, 22) + ":" + text.substring(22);
        Mac mac = Mac.getInstance("HmacSHA1");
        mac.init(new SecretKeySpec(key.getBytes(StandardCharsets.UTF_8), "HmacSHA1"));
        StringBuilder signature = new StringBuilder();
        for (byte b : mac.doFinal((timestamp + userId).getBytes(StandardCharsets.UTF_8))) {
            signature.append(String.format("%02x", b));
        }
        AuthenticationHeaderInfo header = new AuthenticationHeaderInfo();
        header.setMktowsUserId(userId);
        header.setRequestTimestamp(timestamp);
        header.setRequestSignature(signature.toString());

        ObjectFactory factory = new ObjectFactory();
        LeadRecord lead = new LeadRecord();
        lead.setEmail(factory.createLeadRecordEmail(email));
        Attribute first = new Attribute();
        first.setAttrName("FirstName");
        first.setAttrValue(firstName);
        Attribute last = new Attribute();
        last.setAttrName("LastName");
        last.setAttrValue("of the Jungle");
        ArrayOfAttribute attributes = new ArrayOfAttribute();
        attributes.getAttribute().add(first);
        attributes.getAttribute().add(last);
        lead.setLeadAttributeList(factory.createLeadRecordLeadAttributeList(attributes));
        ParamsSyncLead request = new ParamsSyncLead();
        request.setLeadRecord(lead);
        request.setReturnLead(true);

        MktowsContextHeaderInfo context = new MktowsContextHeaderInfo();
        context.setTargetWorkspace(workspace);  // the sample sends "default"

        SuccessSyncLead success = port.syncLead(request, header, context);
        ResultSyncLead result = success.getResult();
        System.out.println("syncLead status=" + result.getSyncStatus().getStatus().value()
            + " leadId=" + result.getLeadId());

        try {
            port.getTags(new UnimplementedMessage(), header);
            System.out.println("getTags answered");
        } catch (SOAPFaultException fault) {
            System.out.println("getTags fault=" + fault.getFault().getFaultString()
                + " detail=" + fault.getFault().getDetail().getTextContent().trim());
        }
    }
}
